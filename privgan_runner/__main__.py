"""`python -m privgan_runner [overrides]`: the Hydra app. All the work is in pipeline.run."""

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from . import pipeline
from .errors import ConfigError, DatasetNotFoundError, ReattackFailed


@hydra.main(version_base="1.3", config_path="pkg://privgan_runner.conf", config_name="config")
def main(cfg: DictConfig) -> None:
    try:
        pipeline.run(cfg, overrides=list(HydraConfig.get().overrides.task))
    except (ConfigError, DatasetNotFoundError) as exc:
        if HydraConfig.get().mode.name == "MULTIRUN":
            raise  # Hydra records this job as failed and runs the others; the run folder says why
        print(f"privgan_runner: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ReattackFailed as exc:  # the training job's folder is untouched: one line, no traceback
        if HydraConfig.get().mode.name == "MULTIRUN":
            raise
        print(f"privgan_runner: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: status.json says interrupted; no traceback
        signal_name = getattr(exc, "signal_name", "SIGINT")
        print(
            f"privgan_runner: interrupted ({signal_name}); started again, the job resumes from its checkpoint",
            file=sys.stderr,
        )
        sys.exit(143 if signal_name == "SIGTERM" else 130)


RUN_FOLDER_KEYS = ("hydra.run.dir", "hydra.sweep.dir")


def unwritable_run_folder(args: list[str]) -> str | None:
    """Why a run folder given on the command line cannot be written, naming its key; None when it can
    (or when Hydra has to resolve it). Checked before Hydra creates the folder, which would fail with a
    traceback naming no key."""
    for arg in args:
        key, given, value = arg.lstrip("+").partition("=")
        if not given or key not in RUN_FOLDER_KEYS or "${" in value:
            continue
        path = Path(value).expanduser().absolute()
        existing = next(p for p in (path, *path.parents) if p.exists())
        if not existing.is_dir():
            return f"{key}: {path} cannot be created: {existing} is a file, not a folder"
        if not os.access(existing, os.W_OK | os.X_OK):
            return f"{key}: {path} cannot be written: {existing} is not writable by this user"
    return None


def cli() -> None:
    """The command: refuses an unwritable run folder before Hydra starts, then runs `main`."""
    problem = unwritable_run_folder(sys.argv[1:])
    if problem:
        print(f"privgan_runner: error: {problem}", file=sys.stderr)
        sys.exit(2)
    from .report.sweep_summary import SweepSummary

    try:
        main()
    finally:  # a sweep one of whose jobs raised never reaches Hydra's on_multirun_end: its summary comes here
        SweepSummary.print_unfinished()


if __name__ == "__main__":
    cli()
