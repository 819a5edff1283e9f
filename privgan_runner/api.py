"""The Python API: run an experiment, or read a finished run folder back, without the command line.

import privgan_runner as pr

results = pr.run(["regularizer=spectral_norm", "trainer.epochs=50"], run_dir="outputs/sn")
run = pr.load_run("outputs/sn")
run.results["attacks"]["white_box"]["auc"], run.scores("white_box")["scores"], run.history[-1]
images = run.sample(16)          # G is built and loaded on first use; pixels in [-1, 1]
run.save_samples("grid.png", 64) # the same as an 8 x 8 grid image
run.attack(["tvd"])              # re-attack the trained model: tvd added, the attacks already scored kept
run.plots["roc"]                 # the run's plots by name (plots/*.png)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from .errors import NotTrainedError
from .results import Results
from .run_folder import RunFolder
from .training.checkpoint import Checkpoint


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """The config the command line would compose from these overrides."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # inside a Hydra app or another compose: start afresh
        GlobalHydra.instance().clear()
    with initialize_config_module(config_module="privgan_runner.conf", version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


def run(cfg_or_overrides: DictConfig | Sequence[str] = (), run_dir: str | Path | None = None) -> Results:
    """Run the pipeline in `run_dir` (default: outputs/<date>/<time>, as the command line) and return
    results.json's content. Overrides given as strings are read as the command line reads them (so a
    re-attack, `stages=[attack,evaluate]`, takes the model's configuration from the run folder)."""
    from . import pipeline

    if isinstance(cfg_or_overrides, DictConfig):
        cfg, overrides = cfg_or_overrides, None
    else:
        overrides = [str(o) for o in cfg_or_overrides]
        cfg = compose(overrides)
    if run_dir is None:
        run_dir = Path("outputs") / time.strftime("%Y-%m-%d") / time.strftime("%H-%M-%S")
    return pipeline.run(cfg, run_dir=run_dir, overrides=overrides)


class Run:
    """A run folder read back: its config, results, split, scores and loss history; G and D on demand."""

    def __init__(self, path: str | Path):
        self.folder = RunFolder(path)
        if not self.folder.status_file.is_file():
            raise FileNotFoundError(f"{self.folder.path} is not a run folder (no status.json)")

    @property
    def path(self) -> Path:
        return self.folder.path

    @cached_property
    def results(self) -> Results:
        results = self.folder.results()
        if results is None:
            raise NotTrainedError(f"{self.path} has no results: {self._why()}")
        return results

    @property
    def status(self) -> str:
        """completed | collapsed | failed | interrupted | running | stale (status running, but no process
        holds the folder: the job was killed) | ..."""
        return self.folder.state()

    def _why(self) -> str:
        """What became of the job, in words, and how it goes on."""
        record = self.folder.status() or {}
        state, stage, message = self.status, record.get("stage", "?"), record.get("message", "")
        if state == "failed" and stage in ("config", "data"):
            return f"the job was refused before training ({message})"
        if state in ("stale", "interrupted", "running"):
            what = {"stale": "was killed", "interrupted": "was stopped by a signal", "running": "is running"}[state]
            resume = Checkpoint(self.folder.resume_checkpoint)
            where = f"; its latest checkpoint is {resume.path}" if resume.exists() else ""
            goes_on = "" if state == "running" else "; started again with the same config and folder, it resumes"
            return f"the job {what} (stage {stage}){where}{goes_on}"
        return f"the job's status is {state} at stage {stage}" + (f": {message}" if message else "")

    @cached_property
    def config(self) -> DictConfig:
        return OmegaConf.create(self.folder.job_config() or self.results["config"])

    @property
    def figures(self) -> dict[str, dict[str, Any]]:
        """Every attack's figures by attack name (results.json's `attacks`)."""
        return self.results.get("attacks") or {}

    @property
    def metrics(self) -> dict[str, Any]:
        return self.results.get("metrics") or {}

    @cached_property
    def membership(self):
        from .data.split import Membership

        return Membership.load(self.folder.membership_file)

    def scores(self, attack: str) -> dict[str, np.ndarray]:
        """scores, is_member, record_idx, threshold of one attack, as saved."""
        path = self.folder.scores_file(attack)
        if not path.is_file():
            saved = sorted(p.stem for p in self.folder.scores_dir.glob("*.npz"))
            raise KeyError(f"no scores for attack {attack!r} in {self.folder.path} (saved: {', '.join(saved)})")
        with np.load(path) as f:
            return {k: f[k] for k in f.files}

    @cached_property
    def history(self) -> list[dict[str, float]]:
        """The training loss history: one row per logged window (history.csv; for a job stopped in training,
        the history its latest checkpoint holds)."""
        if self.folder.history_file.is_file():
            return self.folder.history()
        resume = Checkpoint(self.folder.resume_checkpoint)
        return list(resume.load().get("history", [])) if resume.exists() else []

    @cached_property
    def _models(self):
        from .pipeline import build_components, build_gan, load_trained

        if not self.folder.last_checkpoint.is_file():
            raise NotTrainedError(f"{self.path} has no trained model ({self.folder.last_checkpoint}): {self._why()}")
        parts = build_components(self.config)
        G, D = build_gan(parts, parts.dataset.n_classes)
        load_trained(self.folder, G, D, parts.privacy)
        return G, D, parts

    @property
    def G(self):
        return self._models[0]

    @property
    def D(self):
        return self._models[1]

    @property
    def plots(self) -> dict[str, Path]:
        """The run's plots by name: roc, score_hist, samples (plots/<name>.png), those that exist."""
        return {p.stem: p for p in sorted(self.folder.plots_dir.glob("*.png"))}

    def attack(
        self, attacks: Sequence[str], *, keep: bool = True, evaluate: bool = True, overrides: Sequence[str] = ()
    ) -> Results:
        """Re-attack the trained model in this run folder (the command line's `stages=[attack,evaluate]`) with
        `attacks` (attack option names) and return the new results.json. keep=True: the attacks already scored
        are run again beside them, with the settings they were run with, so their scores and figures stay
        (a re-attack keeps only the attacks it is given); keep=False: `attacks` alone. evaluate=False skips
        the metrics (then results.json has none); they are the run's own unless `overrides` give `metric=`.
        `overrides`: more command-line overrides (attack settings, execution keys). The model, its split and
        the experiment's name are the run's; a failed re-attack leaves the folder as it was."""
        from . import pipeline

        earlier = dict(OmegaConf.to_container(self.config_as_run).get("attack") or {})  # option name -> settings
        names = list(dict.fromkeys([*(earlier if keep else ()), *attacks]))
        stages = "[attack,evaluate]" if evaluate else "[attack]"
        given = [f"stages={stages}", f"attack=[{','.join(names)}]", *overrides]
        cfg = compose(given)
        for name in cfg.attack:  # a kept attack runs with the settings it was scored with
            if name in earlier and name not in attacks:
                cfg.attack[name] = earlier[name]
        metrics = self.config_as_run.get("metric")
        if metrics is not None and not any(o.split("=")[0].lstrip("+~") == "metric" for o in overrides):
            cfg.metric = metrics  # the run's own metrics
        results = pipeline.run(cfg, run_dir=self.path, overrides=given)
        for cached in ("results", "config_as_run"):
            self.__dict__.pop(cached, None)
        return results

    @cached_property
    def config_as_run(self) -> DictConfig:
        """The config of the latest job in this folder (a re-attack's, if any; `config` is the training's)."""
        return OmegaConf.create(self.results.get("config") or self.config)

    def save_samples(self, path: str | Path, n: int = 64, seed: int = 0, nrow: int = 8, labels=None) -> Path:
        """`sample(n, labels, seed)` written as a grid image (PNG, atomically) at `path`; returns the path."""
        from .plots import sample_grid

        return sample_grid(Path(path), self.sample(n, labels=labels, seed=seed), nrow=nrow)

    def sample(self, n: int, labels=None, seed: int = 0):
        """n generated images: a CPU float tensor [n, C, H, W] with pixels in [-1, 1] (G's tanh range; map to
        [0, 1] with (x + 1) / 2); class labels uniform when the model is conditional."""
        from .artifacts import sample_generator

        G, _, parts = self._models
        return sample_generator(
            G,
            n,
            z_dim=parts.model.z_dim,
            conditional=parts.model.conditional,
            n_classes=parts.dataset.n_classes,
            privacy=parts.privacy,
            device="cpu",
            seed=seed,
            labels=labels,
        )


def load_run(path: str | Path) -> Run:
    """A finished (or failed) run folder, read back."""
    return Run(path)
