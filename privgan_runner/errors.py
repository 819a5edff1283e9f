"""Errors the pipeline raises on purpose, each with a message written for the user."""


class ConfigError(ValueError):
    """The composed configuration is invalid; raised before any work starts."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}")

    def __reduce__(self):  # rebuilt from (key, message) when a launcher sends it back from a worker process
        return (type(self), (self.key, self.message))


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not on disk where we looked, and could not be fetched."""


class RunFolderError(ConfigError):
    """The run folder holds another job's work; raised before anything in it is touched."""


class UnreadableFileError(RunFolderError):
    """A file of the run folder cannot be read back (truncated, damaged); the message names the file and the
    way out, the key the way out is set by."""


class NotTrainedError(FileNotFoundError):
    """A run folder read back from Python has no trained model (its training was refused, failed, killed or is
    still under way); the message says which, and how the job goes on."""


class ReattackFailed(RuntimeError):
    """A re-attack of a finished run failed; the run folder was put back as it was (RunFolder.reattack_transaction).
    The cause is chained (__cause__)."""

    def __reduce__(self):
        return (type(self), self.args)


class Interrupted(KeyboardInterrupt):
    """The job was stopped by a signal (SIGTERM from a scheduler or `kill`); like Ctrl-C, it is not an error of
    the job: status.json says `interrupted`, and started again the job resumes from its checkpoint."""

    def __init__(self, signal_name: str):
        self.signal_name = signal_name
        super().__init__(signal_name)

    def __reduce__(self):
        return (type(self), (self.signal_name,))
