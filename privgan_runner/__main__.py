"""`python -m privgan_runner [overrides]`: the Hydra app. All the work is in pipeline.run."""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from . import pipeline
from .errors import ConfigError, DatasetNotFoundError


@hydra.main(version_base="1.3", config_path="pkg://privgan_runner.conf", config_name="config")
def main(cfg: DictConfig) -> None:
    try:
        pipeline.run(cfg, overrides=list(HydraConfig.get().overrides.task))
    except (ConfigError, DatasetNotFoundError) as exc:
        if HydraConfig.get().mode.name == "MULTIRUN":
            raise  # Hydra records this job as failed and runs the others; the run folder says why
        print(f"privgan_runner: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: status.json says interrupted; no traceback
        signal_name = getattr(exc, "signal_name", "SIGINT")
        print(
            f"privgan_runner: interrupted ({signal_name}); started again, the job resumes from its checkpoint",
            file=sys.stderr,
        )
        sys.exit(143 if signal_name == "SIGTERM" else 130)


if __name__ == "__main__":
    main()
