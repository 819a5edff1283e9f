"""train -> attack -> evaluate: the job a run folder holds, as a sequence of stages (stages/: data, train, attack,
audit, evaluate, plots, and the record), each a function with the inputs it reads and the outputs it writes to
the run folder (run_folder.py; the results' schema: results.py, docs/results.md; the shape: docs/design.md).

The job reads top to bottom in `_job` and `_stages`:
- refusals come before anything is written: the config (`folder.refusals("config")`), then the data and what
  needs the data; a job that is only checked (`check_only`) stops there and writes nothing;
- an accepted job's stages each run inside `folder.stage(...)`, the one place their outcome (running, failed,
  interrupted) reaches status.json;
- `stages=[attack,evaluate]` re-attacks a trained model in an existing run folder without retraining (the
  model's configuration then comes from the folder's job.json: config.reattack_config), as a transaction: if
  it fails, the folder is as it was;
- a job whose training finished in an earlier attempt loads its model instead of training again.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from .components import Components, build_components
from .config import apply_trainer_profile, check_stages, reattack_config
from .console import print_summary
from .errors import ConfigError, DatasetNotFoundError, ReattackFailed
from .results import Results
from .run_folder import RunFolder, check_run_folder, record_job, training_identity
from .seeds import derive
from .stages.attack import run_attacks
from .stages.audit import run_audits
from .stages.data import dataset_record, load_data, nominal_size
from .stages.evaluate import compute_metrics
from .stages.plots import draw_plots
from .stages.record import finish
from .stages.train import build_gan, handed_on, load_trained, train_or_load
from .training.devices import keep_freed_memory
from .training.stop import sigterm_interrupts

__all__ = ["Components", "build_components", "build_gan", "load_trained", "run"]

log = logging.getLogger("privgan_runner")


def run(cfg: DictConfig, run_dir: str | Path | None = None, overrides: list[str] | None = None) -> Results:
    """Run the configured stages in `run_dir` (Hydra's job folder by default); returns results.json's content.

    `overrides`: the overrides the user gave (Hydra's task overrides on the command line). With them, a
    re-attack (no `train` stage) takes the trained model's configuration from the run folder's job.json
    and only the attack, metric and execution keys from the command line.

    The job holds the folder's lock throughout (run_folder.FolderLock): a second process on the same folder
    is refused before it reads or writes anything there."""
    folder = RunFolder(_run_dir(run_dir))
    made_here = not folder.path.exists()
    folder.path.mkdir(parents=True, exist_ok=True)
    try:
        with folder.lock(), sigterm_interrupts() as stop:
            if folder.recover_interrupted_reattack():
                log.warning("%s: put back what an interrupted re-attack had changed", folder.path)
            return _job(folder, cfg, overrides, stop)
    finally:
        folder.drop_pending_record()  # a refused or skipped job's Hydra record (an accepted one was adopted)
        if cfg.get("check_only", False):
            _remove_made_for_check(folder.path, made_here)


def _job(folder: RunFolder, cfg: DictConfig, overrides: list[str] | None, stop) -> Results:
    """Check the job, then run its stages in the folder it holds."""
    checking = bool(cfg.get("check_only", False))  # a check writes nothing, a refusal included
    with folder.refusals("config", record=not checking):  # bad config: nothing is loaded or trained
        cfg, parts = _configured(folder, cfg, overrides)
    config, trains = OmegaConf.to_container(cfg, resolve=True), "train" in cfg.stages
    finished = check_run_folder(folder.path, config, trains, resume=bool(cfg.get("resume", True)))
    if finished is not None:
        log.info("%s already finished (%s): not run again", folder.path, finished["status"])
        print_summary(finished)
        return finished
    import torch

    torch.set_num_threads(parts.trainer.job_threads())  # the job's share of the cores
    if parts.trainer.keep_freed_memory:
        keep_freed_memory()
    torch.manual_seed(cfg.seed)
    # an earlier attempt of this job (check_run_folder: the folder holds no other) finished training and was
    # stopped in its attacks or metrics: its model is loaded, not trained again
    trained_before = (
        trains and bool(cfg.get("resume", True)) and folder.job_file.is_file() and folder.last_checkpoint.is_file()
    )
    with folder.refusals("data", record=not checking):
        data = load_data(cfg, parts, folder, train=trains and not trained_before)
    with folder.refusals("config", record=not checking):  # refusals that need the data (a batch too large, ...)
        identity = _checked_against_data(cfg, parts, config, data, trains)
    if checking:
        log.info("%s: the job is accepted (check_only): nothing trained or written", folder.path)
        return {"status": "checked", "experiment": cfg.get("name"), "seed": int(cfg.seed), "run_dir": str(folder.path)}
    stages = partial(_stages, folder, cfg, parts, config, data, identity, trains, trained_before, stop)
    if trains:
        return stages()
    with _reattack(folder):
        return stages()


def _stages(folder: RunFolder, cfg, parts: Components, config, data, identity, trains, trained_before, stop):
    """The accepted job's stages, in the folder it holds: setup, train (or load), attack, audit, evaluate, plots."""
    dataset_pool, pool, membership, drawn = data
    _take_folder(folder, cfg, config, trains, membership if drawn else None)
    results: Results = {"status": "running", "experiment": cfg.get("name"), "seed": int(cfg.seed)}
    results["run_dir"] = str(folder.path)
    stage = partial(folder.stage, record_failure=partial(_record_failure, cfg, parts, results, folder))
    with stage("setup"):
        parts.logger.start(folder.path, config)
        results["dataset"] = dataset_record(cfg, parts, dataset_pool, membership)
        G, D = build_gan(parts, pool.n_classes)
        results["privacy"] = parts.privacy.describe()
    with stage("train"):
        seed = int(cfg.seed)
        train, results["privacy"] = train_or_load(parts, G, D, data, folder, seed, trains, trained_before, stop)
        results["train"] = {k: v for k, v in train.items() if k != "status"}
        if train["status"] == "collapsed":
            reason = f"training collapsed: {train['message']}"
            results.update(status="collapsed", attacks={}, metrics={}, attacks_reason=reason)
            return finish(cfg, parts, results, folder, "train", train["message"])
        trained = handed_on(parts, G, D, data, cfg, identity)
    scores: dict = {}
    if "attack" in cfg.stages:
        with stage("attack"):
            results["attacks"], scores = run_attacks(parts, trained, folder, derive(int(cfg.seed), "bootstrap"))
        if parts.audit.active:
            with stage("audit"):
                results["audit"] = run_audits(parts, trained, scores, folder, results.get("privacy") or {})
    if "evaluate" in cfg.stages:
        with stage("evaluate"):
            results["metrics"] = compute_metrics(parts, trained)
    with stage("plots", announce=False):
        draw_plots(folder, scores, trained, results.get("privacy") or {}, parts.attacks, results.get("train"))
        results["status"] = "completed"
        return finish(cfg, parts, results, folder, "plots")


def _configured(folder: RunFolder, cfg: DictConfig, overrides: list[str] | None) -> tuple[DictConfig, Components]:
    """The job's config -- a re-attack's is the trained model's (job.json) with the attacks and metrics of the
    command line -- and its parts, built and checked."""
    check_stages(cfg)  # read before the rest of the config is checked
    cfg = apply_trainer_profile(cfg)
    if "train" not in cfg.stages and overrides is not None:
        cfg = reattack_config(folder.job_config(), cfg, overrides)
    return cfg, build_components(cfg)


def _checked_against_data(cfg: DictConfig, parts: Components, config: dict, data, trains: bool) -> dict:
    """The checks that need the split (a batch larger than the member set, a DP budget that cannot hold, LiRA's
    shadows, the white-box audit's capacity); returns what a model of this job depends on, without the seed."""
    _, pool, membership, _ = data
    identity = training_identity(config)
    for attack in parts.attacks if "attack" in cfg.stages else ():  # e.g. LiRA's shadows: this configuration
        attack.check_run(identity, int(cfg.seed), membership)
    n_trained = len(membership.training_idx)  # the members and the canaries trained on
    nominal = nominal_size(membership)
    parts.trainer.check_fits(n_trained if nominal is None else int(nominal))
    parts.privacy.check(
        n_trained,
        parts.trainer,
        parts.regularizer,
        objective=parts.objective,
        n_public=len(membership.extra.get("public_idx", ())),
        conditional=parts.model.conditional,
        n_nominal=nominal,
    )
    if trains:
        dataset = parts.dataset
        parts.audit.check_gradient(parts.privacy, parts.model, dataset.image_size, dataset.channels, pool.n_classes)
    return identity


def _take_folder(folder: RunFolder, cfg: DictConfig, config: dict, trains: bool, drawn_membership) -> None:
    """The folder is the accepted job's now: its Hydra record adopted, a killed writer's temporaries removed;
    a training job's job.json written and an earlier attempt's results.json (stale) removed -- with its
    checkpoints when starting from scratch; a split drawn for this job saved."""
    folder.adopt_record(trains)
    for stale in folder.remove_stale_temporaries():
        log.info("removed %s, left by a writer that was killed", stale)
    if trains:
        record_job(folder.path, config)
        folder.results_file.unlink(missing_ok=True)
        if not cfg.get("resume", True):  # from scratch: no earlier checkpoint is picked up
            from .training.checkpoint import Checkpoint

            Checkpoint(folder.resume_checkpoint).remove()
            folder.last_checkpoint.unlink(missing_ok=True)
    if drawn_membership is not None:
        drawn_membership.save(folder.membership_file)


def _record_failure(cfg, parts: Components, results: Results, folder: RunFolder, exc, stage: str, message: str):
    """A stage failed: results.json and status.json say where and why (folder.stage calls this)."""
    results.update(status="failed", error=f"{type(exc).__name__}: {exc}", failed_stage=stage)
    finish(cfg, parts, results, folder, stage, message)


@contextmanager
def _reattack(folder: RunFolder):
    """A re-attack is a transaction: if it fails, the completed run's folder is as it was (RunFolder)."""
    try:
        with folder.reattack_transaction():
            yield
    except (ConfigError, DatasetNotFoundError, KeyboardInterrupt):
        raise  # their own messages; the folder is put back all the same
    except Exception as exc:
        raise ReattackFailed(
            f"the re-attack of {folder.path} failed ({type(exc).__name__}: {exc}); the run folder is as it was"
        ) from exc


def _run_dir(run_dir: str | Path | None) -> Path:
    if run_dir is not None:
        return Path(run_dir)
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else Path(os.getcwd())


def _remove_made_for_check(path: Path, made_here: bool) -> None:
    """The folder made for a job that was only checked, when nothing but its making is in it: made by this
    call, or by Hydra, which makes the job's folder and opens its log there before the job starts."""
    leftovers: set[str] = set()
    with suppress(Exception):  # outside Hydra: no Hydra folder
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized() and Path(HydraConfig.get().runtime.output_dir) == path:
            made_here, leftovers = True, {f"{HydraConfig.get().job.name}.log"}
    if made_here and {p.name for p in path.iterdir()} <= leftovers:
        for name in leftovers:
            (path / name).unlink(missing_ok=True)
        path.rmdir()
