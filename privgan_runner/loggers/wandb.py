"""Weights & Biases: one W&B run per job, closed in the job (multirun jobs never merge).

Logged: the resolved config, the training losses (every `trainer.log_every` steps), every attack figure
and metric in the summary (`white_box/auc`, `metrics/fid`, ...), the plots (ROC, score histograms,
samples) as images, and results.json as an artifact. The group is the sweep folder in a multirun.
`mode`: online | offline | disabled; by default offline unless an API key is configured
(WANDB_API_KEY or a `wandb login`), so compute nodes without a network still record everything:
sync later with `wandb sync <run folder>/wandb/offline-run-*`. The W&B run id is kept in the run folder
(wandb/run_id), so a job started again there (a Slurm requeue) continues its W&B run instead of opening
a second one.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import Logger

MODES = ("online", "offline", "disabled")


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


class WandbLogger(Logger):
    def __init__(self, project: str = "privgan_runner", entity: str | None = None, mode: str | None = None,
                 group: str | None = None, tags: list[str] | tuple[str, ...] = ()):
        if mode is not None and mode not in MODES:
            raise ConfigError("mode", f"must be one of {', '.join(MODES)} (or null for automatic), got {mode!r}")
        self.project, self.entity, self.mode, self.group, self.tags = project, entity, mode, group, list(tags)
        self.run = None

    def start(self, run_dir: Path, config: dict[str, Any]) -> None:
        import wandb

        mode = self.mode or ("online" if _has_api_key() else "offline")
        group = self.group or _sweep_group()
        self.run = wandb.init(project=self.project, entity=self.entity, mode=mode, group=group, tags=self.tags,
                              name=f"{config.get('name')}-{run_dir.name}", config=config, dir=str(run_dir),
                              id=_job_run_id(run_dir), resume="allow", reinit="finish_previous")

    def log(self, values: dict[str, float], step: int) -> None:
        if self.run is not None:
            self.run.log({f"train/{k}": v for k, v in values.items()}, step=step)

    def finish(self, results: dict[str, Any], run_dir: Path) -> None:
        if self.run is None:
            return
        import wandb

        try:
            summary: dict[str, Any] = {"status": results.get("status")}
            for attack, figures in (results.get("attacks") or {}).items():
                summary.update({f"{attack}/{k}": v for k, v in figures.items() if isinstance(v, (int, float))})
            for name, value in (results.get("metrics") or {}).items():
                if isinstance(value, (int, float)):
                    summary[f"metrics/{name}"] = value
            for name, value in (results.get("privacy") or {}).items():
                if isinstance(value, (int, float, str)):
                    summary[f"privacy/{name}"] = value
            self.run.summary.update(summary)
            images = {f"plots/{p.stem}": wandb.Image(str(p)) for p in sorted((run_dir / "plots").glob("*.png"))}
            if images:
                self.run.log(images)
            if (run_dir / "results.json").is_file():
                artifact = wandb.Artifact(f"results-{self.run.id}", type="results")
                artifact.add_file(str(run_dir / "results.json"))
                self.run.log_artifact(artifact)
        finally:
            self.run.finish(exit_code=0 if results.get("status") in ("completed", "collapsed") else 1)
            self.run = None


def _job_run_id(run_dir: Path) -> str:
    """This job's W&B run id: drawn at its first start, read back at every later one."""
    import secrets

    from ..io import write_text

    path = run_dir / "wandb" / "run_id"
    if path.is_file():
        return path.read_text().strip()
    run_id = secrets.token_hex(4)  # W&B's id alphabet: lowercase letters and digits
    write_text(path, run_id + "\n")
    return run_id


def _sweep_group() -> str | None:
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized() and HydraConfig.get().mode.name == "MULTIRUN":
            return Path(HydraConfig.get().sweep.dir).name
    except Exception:  # outside Hydra (tests, notebooks): no group
        return None
    return None
