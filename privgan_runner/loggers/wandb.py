"""Weights & Biases: one W&B run per job, closed in the job (multirun jobs never merge).

Logged: the resolved config, the training losses (every `trainer.log_every` steps), every numeric attack
figure and metric in the summary (`white_box/auc`, `white_box/auc_ci_low`, `metrics/fid`, ...), the
plots (ROC, score histograms, samples) as images, results.json and the attack scores as artifacts (the
trained checkpoint too with `log_model: true`).
Names: the group is the sweep's name (the sweep folder, or the experiment for Hydra's dated default
folders) and the date; a job's name is the experiment and its overrides within the sweep; tags are
the dataset, objective, regularizer and privacy mechanism, plus `tags`.
`project`, `entity`, `mode` left null follow WANDB_PROJECT, WANDB_ENTITY, WANDB_MODE when set. `mode`:
online | offline | disabled (no run is opened at all); by default offline unless an API key is
configured (WANDB_API_KEY or a `wandb login`), and offline too when the key is set but W&B cannot be
reached (said in the log), so compute nodes without a network still record everything: sync later
with `wandb sync <run folder>/wandb/offline-run-*`. The W&B run id is kept in the run folder
(wandb/run_id), so a job started again there (a Slurm requeue) continues its W&B run instead of
opening a second one.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import Logger

MODES = ("online", "offline", "disabled")
log = logging.getLogger("privgan_runner")


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


#: characters W&B refuses in a project or entity name (its UsageError, raised only when the run starts)
WANDB_FORBIDDEN = ("/", "\\", "#", "?", "%", ":")


class WandbLogger(Logger):
    def __init__(
        self,
        project: str | None = None,
        entity: str | None = None,
        mode: str | None = None,
        group: str | None = None,
        tags: list[str] | tuple[str, ...] = (),
        log_model: bool = False,
    ):
        mode = mode or os.environ.get("WANDB_MODE") or None
        if mode == "dryrun":  # W&B's older name for offline
            mode = "offline"
        if mode is not None and mode not in MODES:
            raise ConfigError("mode", f"must be one of {', '.join(MODES)} (or null for automatic), got {mode!r}")
        for key, value in (("project", project), ("entity", entity)):
            if value is not None and (not isinstance(value, str) or not value or set(value) & set(WANDB_FORBIDDEN)):
                raise ConfigError(
                    key,
                    f"must be a non-empty name without any of {' '.join(WANDB_FORBIDDEN)} (W&B's rule), got {value!r}",
                )
        self.project = project or os.environ.get("WANDB_PROJECT") or "privgan_runner"
        self.entity = entity or os.environ.get("WANDB_ENTITY") or None
        self.mode, self.group, self.tags, self.log_model = mode, group, list(tags), bool(log_model)
        self.run = None

    def start(self, run_dir: Path, config: dict[str, Any]) -> None:
        if self.mode == "disabled":
            return
        import wandb

        mode = self.mode or ("online" if _has_api_key() else "offline")
        tags = [
            str((config.get(group) or {}).get("name")) for group in ("dataset", "objective", "regularizer", "privacy")
        ] + self.tags
        opened = dict(
            project=self.project,
            entity=self.entity,
            group=self.group or _group(config),
            tags=list(dict.fromkeys(tags)),
            name=_job_name(config, run_dir),
            config=config,
            dir=str(run_dir),
            id=_job_run_id(run_dir),
            resume="allow",
            reinit="finish_previous",
        )
        try:
            self.run = wandb.init(mode=mode, **opened)
        except Exception as exc:  # no network on a compute node: the automatic mode must not fail the job
            if self.mode is not None or mode != "online":
                raise
            log.warning(
                "W&B could not be reached (%s: %s): logging offline in %s; upload later with `wandb sync`",
                type(exc).__name__,
                exc,
                run_dir / "wandb",
            )
            wandb.teardown()  # the failed online run stays registered with W&B's service otherwise
            self.run = wandb.init(mode="offline", **opened)

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
                for key, value in figures.items():  # intervals as their two ends
                    if key.endswith("_ci") and isinstance(value, list) and len(value) == 2:
                        summary[f"{attack}/{key}_low"], summary[f"{attack}/{key}_high"] = value
            for name, value in (results.get("metrics") or {}).items():
                if isinstance(value, (int, float)):
                    summary[f"metrics/{name}"] = value
            for name, value in (results.get("privacy") or {}).items():
                if isinstance(value, (int, float, str)):
                    summary[f"privacy/{name}"] = value
            audit = results.get("audit") or {}
            for name, value in (audit.get("one_run") or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    summary[f"audit/one_run/{name}"] = value
            for name, value in (audit.get("gradient") or {}).items():
                if isinstance(value, (int, float)):  # claim_rejected (a bool) as 1 / 0
                    summary[f"audit/gradient/{name}"] = int(value) if isinstance(value, bool) else value
            for attack, figures in (audit.get("descriptive") or {}).items():
                summary.update(
                    {f"audit/descriptive/{attack}/{k}": v for k, v in figures.items() if isinstance(v, float)}
                )
            self.run.summary.update(summary)
            images = {f"plots/{p.stem}": wandb.Image(str(p)) for p in sorted((run_dir / "plots").glob("*.png"))}
            if images:
                self.run.log(images)
            if (run_dir / "results.json").is_file():
                artifact = wandb.Artifact(f"results-{self.run.id}", type="results")
                artifact.add_file(str(run_dir / "results.json"))
                self.run.log_artifact(artifact)
            scores = sorted((run_dir / "scores").glob("*.npz"))
            if scores:
                artifact = wandb.Artifact(f"scores-{self.run.id}", type="scores")
                for path in scores:
                    artifact.add_file(str(path))
                self.run.log_artifact(artifact)
            checkpoint = run_dir / "checkpoints" / "last.pt"
            if self.log_model and checkpoint.is_file():
                artifact = wandb.Artifact(f"model-{self.run.id}", type="model")
                artifact.add_file(str(checkpoint))
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


def _hydra():
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get() if HydraConfig.initialized() else None
    except Exception:  # outside Hydra (tests, notebooks)
        return None


def _group(config: dict[str, Any]) -> str:
    """The sweep's name and the date: the sweep folder's name (a Makefile target's), or the experiment's
    when the folder is Hydra's dated default (multirun/<date>/<time>) or the job is a single run."""
    hydra = _hydra()
    name = str(config.get("name") or "run")
    if hydra is not None and hydra.mode.name == "MULTIRUN":
        folder = Path(hydra.sweep.dir).name
        if not re.fullmatch(r"[\d_:-]+", folder):
            name = folder
    return f"{name}-{time.strftime('%Y-%m-%d')}"


def _job_name(config: dict[str, Any], run_dir: Path) -> str:
    """The experiment and what sets this job apart in its sweep (its overrides), else its folder's name."""
    hydra = _hydra()
    what = hydra.job.override_dirname if hydra is not None and hydra.job.get("override_dirname") else run_dir.name
    return f"{config.get('name')} {what}"
