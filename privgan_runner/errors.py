"""Errors the pipeline raises on purpose, each with a message written for the user."""


class ConfigError(ValueError):
    """The composed configuration is invalid; raised before any work starts."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not on disk where we looked, and could not be fetched."""


class RunFolderError(ConfigError):
    """The run folder holds another job's work; raised before anything in it is touched."""
