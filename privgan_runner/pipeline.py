"""train -> attack -> evaluate: the task a job runs, filling its run folder (run_folder.py; the results'
schema: results.py, docs/results.md).

Every stage reads what it needs from the run folder (membership.npz, checkpoints/last.pt), so
`stages=[attack,evaluate]` re-attacks a trained model in an existing run folder without retraining; the
model's configuration then comes from the folder's job.json (config.reattack_config).
"""

from __future__ import annotations

import logging
import os
import traceback
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from omegaconf import DictConfig, OmegaConf

from .config import apply_trainer_profile, check_stages, check_top_level, reattack_config
from .console import print_summary
from .errors import ConfigError, DatasetNotFoundError, Interrupted, ReattackFailed, UnreadableFileError
from .results import Figure, Results, describe
from .run_folder import RunFolder, check_run_folder, record_job, training_identity
from .seeds import derive

if TYPE_CHECKING:  # the option kinds, for the annotations only (importing them loads torch)
    from .attacks.base import Attack
    from .audit.auditor import Audit
    from .data.base import ImageDataset
    from .loggers.base import Logger
    from .metrics.base import Metric
    from .models.base import GANModel
    from .objectives.base import Objective
    from .privacy.base import PrivacyMechanism
    from .regularizers.base import Regularizer
    from .training.trainer import Trainer

log = logging.getLogger("privgan_runner")


@dataclass
class Components:
    """Everything a run is made of, built and checked before any work starts."""

    dataset: ImageDataset
    model: GANModel
    objective: Objective
    regularizer: Regularizer
    privacy: PrivacyMechanism
    attacks: list[Attack]
    metrics: list[Metric]
    trainer: Trainer
    logger: Logger
    audit: Audit


def build_components(cfg: DictConfig) -> Components:
    """Check the composed config and build every option; raises ConfigError naming the bad key."""
    check_top_level(cfg)
    from .attacks.base import Attack
    from .audit.auditor import Audit
    from .components import build, build_list
    from .data.base import ImageDataset
    from .loggers.base import Logger
    from .metrics.base import Metric
    from .models.base import GANModel
    from .objectives.base import Objective
    from .privacy.base import PrivacyMechanism
    from .regularizers.base import Regularizer
    from .training.trainer import Trainer

    parts = Components(
        dataset=build(
            cfg.dataset,
            ImageDataset,
            "dataset",
            skip=("member_fraction", "max_samples", "pool_seed", "public_fraction"),
        ),
        model=build(cfg.model, GANModel, "model"),
        objective=build(cfg.objective, Objective, "objective", skip=("n_critic",)),
        regularizer=build(cfg.regularizer, Regularizer, "regularizer"),
        privacy=build(cfg.privacy, PrivacyMechanism, "privacy"),
        attacks=build_list(cfg.get("attack"), Attack, "attack"),
        metrics=build_list(cfg.get("metric"), Metric, "metric"),
        trainer=build(cfg.trainer, Trainer, "trainer"),
        logger=build(cfg.logger, Logger, "logger"),
        audit=build(cfg.audit, Audit, "audit") if cfg.get("audit") is not None else Audit(descriptive=False),
    )
    parts.audit.check(parts.attacks, parts.privacy)
    if parts.model.conditional and parts.dataset.n_classes < 2:
        raise ConfigError("model.conditional", f"dataset {cfg.dataset.name} has no class labels to condition on")
    parts.model.build(parts.dataset.image_size, parts.dataset.channels, parts.dataset.n_classes)  # checks the shape
    return parts


def _run_dir(run_dir: str | Path | None) -> Path:
    if run_dir is not None:
        return Path(run_dir)
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else Path(os.getcwd())


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
        with folder.lock(), _sigterm_interrupts() as stop:
            if folder.recover_interrupted_reattack():
                log.warning("%s: put back what an interrupted re-attack had changed", folder.path)
            return _run_holding(folder, cfg, overrides, stop)
    finally:
        folder.drop_pending_record()  # a refused or skipped job's Hydra record (an accepted one was adopted)
        if cfg.get("check_only", False):
            _remove_made_for_check(folder.path, made_here)


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


@contextmanager
def _sigterm_interrupts():
    """Yields the StopRequest the trainer honours. A first SIGTERM during training asks it to stop at the end
    of its epoch, after a checkpoint; elsewhere, or a second time, SIGTERM raises Interrupted at once (as
    Ctrl-C raises KeyboardInterrupt). Either way status.json says `interrupted` and the lock is released.
    A handler already installed (submitit's, which requeues on preemption) is left in place, and so is
    everything outside the main thread."""
    import signal
    import threading

    from .training.trainer import StopRequest

    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) not in (
        signal.SIG_DFL,
        None,
    ):
        yield stop
        return

    def interrupt(signum, frame):
        if stop.training and stop.signal_name is None:
            stop.signal_name = "SIGTERM"
            return
        raise Interrupted("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_holding(folder: RunFolder, cfg: DictConfig, overrides: list[str] | None, stop=None) -> Results:
    checking = bool(cfg.get("check_only", False))  # a check writes nothing, a refusal included
    try:
        check_stages(cfg)  # read before the rest of the config is checked
        cfg = apply_trainer_profile(cfg)
        if "train" not in cfg.stages and overrides is not None:
            cfg = reattack_config(folder.job_config(), cfg, overrides)
        parts = build_components(cfg)  # bad config: nothing is loaded or trained
    except ConfigError as exc:
        if not checking:
            _refused(folder, "config", exc)
        raise
    config, trains = OmegaConf.to_container(cfg, resolve=True), "train" in cfg.stages
    finished = check_run_folder(folder.path, config, trains, resume=bool(cfg.get("resume", True)))
    if finished is not None:
        log.info("%s already finished (%s): not run again", folder.path, finished["status"])
        print_summary(finished)
        return finished
    import torch

    torch.set_num_threads(parts.trainer.job_threads())  # the job's share of the cores
    torch.manual_seed(cfg.seed)
    # an earlier attempt of this job (check_run_folder: the folder holds no other) finished training and was
    # stopped in its attacks or metrics: its model is loaded, not trained again
    trained_before = (
        trains and bool(cfg.get("resume", True)) and folder.job_file.is_file() and folder.last_checkpoint.is_file()
    )
    stage = "data"
    try:  # refusals that need the data (a batch larger than the member set, ...) come before any write
        data = _load_data(cfg, parts, folder, train=trains and not trained_before)
        dataset_pool, pool, membership, drawn = data
        stage = "config"
        model_identity = training_identity(config)  # what a model of this job depends on, without the seed
        for attack in parts.attacks if "attack" in cfg.stages else ():  # e.g. LiRA's shadows: this configuration
            attack.check_run(model_identity, int(cfg.seed), membership)
        n_trained = len(membership.training_idx)  # the members and the canaries trained on
        nominal = _nominal_size(membership)
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
            parts.audit.check_gradient(
                parts.privacy, parts.model, parts.dataset.image_size, parts.dataset.channels, pool.n_classes
            )
    except (ConfigError, DatasetNotFoundError) as exc:
        if not checking:
            _refused(folder, stage, exc)
        raise
    if checking:
        log.info("%s: the job is accepted (check_only): nothing trained or written", folder.path)
        return {"status": "checked", "experiment": cfg.get("name"), "seed": int(cfg.seed), "run_dir": str(folder.path)}
    # a re-attack is a transaction: if it fails, the completed run's folder is as it was (RunFolder)
    if trains:
        return _accepted(folder, cfg, parts, config, trains, trained_before, data, model_identity, stop)
    try:
        with folder.reattack_transaction():
            return _accepted(folder, cfg, parts, config, trains, trained_before, data, model_identity, stop)
    except (ConfigError, DatasetNotFoundError, KeyboardInterrupt):
        raise  # their own messages; the folder is put back all the same
    except Exception as exc:
        raise ReattackFailed(
            f"the re-attack of {folder.path} failed ({type(exc).__name__}: {exc}); the run folder is as it was"
        ) from exc


def _accepted(folder: RunFolder, cfg, parts: Components, config, trains, trained_before, data, model_identity, stop):
    """The accepted job's work, in the folder it holds: train (or load), attack, audit, evaluate, plot."""
    dataset_pool, pool, membership, drawn = data
    folder.adopt_record(trains)
    for stale in folder.remove_stale_temporaries():
        log.info("removed %s, left by a writer that was killed", stale)
    if trains:  # the folder is this job's now: an earlier attempt's results.json is stale
        record_job(folder.path, config)
        folder.results_file.unlink(missing_ok=True)
        if not cfg.get("resume", True):  # from scratch: no earlier checkpoint is picked up
            from .training.checkpoint import Checkpoint

            Checkpoint(folder.resume_checkpoint).remove()
            folder.last_checkpoint.unlink(missing_ok=True)
    if drawn:
        membership.save(folder.membership_file)
    folder.write_status("running", "setup")
    stage = "setup"
    results: Results = {
        "status": "running",
        "experiment": cfg.get("name"),
        "seed": int(cfg.seed),
        "run_dir": str(folder.path),
    }
    try:
        parts.logger.start(folder.path, config)
        results["dataset"] = _dataset_record(cfg, parts, dataset_pool, membership)
        G, D = build_gan(parts, pool.n_classes)
        results["privacy"] = parts.privacy.describe()

        stage = "train"
        folder.write_status("running", stage)
        if trains and not trained_before:
            train = _train(parts, G, D, pool, membership, folder, int(cfg.seed), stop)
            results["privacy"] = parts.privacy.describe()  # now with what training spent
        else:  # the privacy record is training's: a re-attack keeps it as written
            train, results["privacy"] = load_trained(
                folder, G, D, parts.privacy, way_out="resume" if trains else "stages"
            )
            if trained_before:
                log.info("%s: training finished in an earlier attempt; its model is loaded", folder.path)
                train = {
                    **train,
                    "notes": [
                        *train.get("notes", []),
                        f"trained in an earlier attempt: loaded {folder.last_checkpoint}",
                    ],
                }
        results["train"] = {k: v for k, v in train.items() if k != "status"}
        if train["status"] == "collapsed":
            results.update(
                status="collapsed", attacks={}, metrics={}, attacks_reason=f"training collapsed: {train['message']}"
            )
            return _finish(cfg, parts, results, folder, "train", train["message"])

        from .training.trainer import resolve_device

        device = resolve_device(parts.trainer.device_name)
        trained = trained_gan(parts, G, D, pool, membership, cfg, device)
        trained.identity = model_identity
        trained.load_run = partial(load_trained_run, pool=pool, device=device)
        attack_scores: dict = {}
        if "attack" in cfg.stages:
            stage = "attack"
            folder.write_status("running", stage)
            results["attacks"], attack_scores = _attack(parts, trained, folder, derive(int(cfg.seed), "bootstrap"))
            if parts.audit.active:
                stage = "audit"
                folder.write_status("running", stage)
                results["audit"] = _audit(parts, trained, attack_scores, folder, results.get("privacy") or {})
        if "evaluate" in cfg.stages:
            stage = "evaluate"
            folder.write_status("running", stage)
            results["metrics"] = _evaluate(parts, trained)
        stage = "plots"
        _plots(folder, attack_scores, trained, results.get("privacy") or {}, parts.attacks)
        results["status"] = "completed"
        return _finish(cfg, parts, results, folder, stage)
    except (ConfigError, DatasetNotFoundError) as exc:
        folder.write_status("failed", stage, str(exc))
        raise
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Interrupted): started again, the job resumes
        folder.write_status("interrupted", stage, getattr(exc, "signal_name", "KeyboardInterrupt"))
        raise
    except Exception as exc:
        results.update(status="failed", error=f"{type(exc).__name__}: {exc}", failed_stage=stage)
        message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        try:
            _finish(cfg, parts, results, folder, stage, message)
        except OSError as write_error:  # the fault that failed the job (a full disk) may fail its record too
            log.error("%s: the failure could not be recorded in full: %s", folder.path, write_error)
            with suppress(OSError):  # status.json is small: it may still fit
                folder.write_status("failed", stage, f"{message}\nrecording it failed: {write_error}")
        raise


def _dataset_record(cfg, parts: Components, pool, membership) -> dict:
    record = {
        "name": cfg.dataset.name,
        "n_members": len(membership.member_idx),
        "n_nonmembers": len(membership.nonmember_idx),
        "pool_size": len(pool),
        "image_size": parts.dataset.image_size,
        "channels": parts.dataset.channels,
        "sha256": pool.content_hash(),
        "source": pool.source,
    }
    if "public_idx" in membership.extra:
        n_public = len(membership.extra["public_idx"])
        record.update(
            n_public=n_public,
            public_share=round(n_public / (n_public + len(membership.member_idx)), 4),  # public / (public + members)
            public_used=parts.privacy.uses_public_data,
        )
    if "member_groups" in membership.extra:
        record.update(
            n_member_groups=len(membership.extra["member_groups"]),
            n_nonmember_groups=len(membership.extra["nonmember_groups"]),
            split="provider partition" if pool.member_groups is not None else "seeded, by group",
        )
    return record


def _figure_descriptions(parts: Components, results: Results) -> dict:
    """results.json's `figures`: every reported figure's description, from the attack and metric classes."""
    out: dict = {}
    for attack in parts.attacks:
        out.update(describe(attack.describe_figures(), attack.name))
    for metric in parts.metrics:
        out.update(describe(metric.figures))
    if "audit" in results:
        out.update(describe(parts.audit.figures(parts.attacks)))
    if _spent_epsilon(results.get("privacy") or {}) is not None:
        out.update(describe([Figure("epsilon_spent", False, True, description="the accountant's spent epsilon")]))
    return out


def _finish(cfg, parts: Components, results: Results, folder: RunFolder, stage: str, message: str = "") -> Results:
    import torch

    results["figures"] = _figure_descriptions(parts, results)
    results["versions"] = {"privgan_runner": __import__("privgan_runner").__version__, "torch": torch.__version__}
    results["config"] = OmegaConf.to_container(cfg, resolve=True)
    folder.write_results(results)
    folder.write_status(results["status"], stage, message)
    try:
        parts.logger.finish(results, folder.path)
    finally:
        print_summary(results)
    return results


def _refused(folder: RunFolder, stage: str, exc: Exception) -> None:
    """A job refused before its work: status.json says why. In a folder no job has trained in, Hydra's record
    of the refused job is kept as `.hydra`, so a sweep's report still sees the job with its configuration; a
    folder that holds a trained job keeps that job's record."""
    folder.path.mkdir(parents=True, exist_ok=True)
    if not folder.job_file.exists():
        folder.adopt_record(trains=True)
    folder.write_status("failed", stage, str(exc))


def _load_data(cfg: DictConfig, parts: Components, folder: RunFolder, train: bool):
    """(dataset_pool, pool, membership, drawn): the dataset as loaded, the pool the run indexes (with the
    audit's canaries appended, if any), and the saved split when re-attacking, else the seed's split
    (drawn = True, to be saved once the run is accepted). Writes nothing."""
    from .audit.canaries import inclusion, plant
    from .data.split import Membership, split_by_group, split_pool

    dataset_pool = parts.dataset.load()
    pool, excluded = dataset_pool, np.array([], dtype=int)
    audit = parts.audit
    if audit.canaries is not None:
        canaries = plant(dataset_pool, audit.canaries, audit.n_canaries, audit.canary_seed, parts.model.conditional)
        pool, excluded = canaries.pool, canaries.excluded_idx
    if not train and folder.membership_file.exists():  # re-attacking: the model's own split
        return dataset_pool, pool, Membership.load(folder.membership_file), False
    available = np.setdiff1d(np.arange(len(pool)), excluded)  # canaries never enter the attacks' split
    pool_seed = cfg.dataset.get("pool_seed")
    public = _public_records(cfg, pool, available)
    available = np.setdiff1d(available, public)
    if pool.groups is not None:  # records of one group (IDC patient) never straddle the split
        if pool_seed is not None:
            raise ConfigError("dataset.pool_seed", "is not supported for datasets split by group (IDC)")
        membership = split_by_group(
            pool.groups[available],
            cfg.dataset.member_fraction,
            cfg.dataset.max_samples,
            derive(int(cfg.seed), "split"),
            pool.member_groups,
        )
    else:
        membership = split_pool(
            len(available),
            cfg.dataset.member_fraction,
            cfg.dataset.max_samples,
            derive(int(cfg.seed), "split"),
            pool_seed,
        )
    membership.member_idx, membership.nonmember_idx = (
        available[membership.member_idx],
        available[membership.nonmember_idx],
    )
    if len(public):
        membership.extra["public_idx"] = public
    if audit.canaries is not None:
        membership.extra.update(
            canary_idx=canaries.canary_idx,
            canary_in=inclusion(len(canaries.canary_idx), derive(int(cfg.seed), "canary_inclusion")),
        )
    return dataset_pool, pool, membership, True


def _public_records(cfg: DictConfig, pool, available: np.ndarray) -> np.ndarray:
    """The public records, drawn from stream `public` among the records the split could use: disjoint from the
    members and from every attacked record; none by default. `dataset.public_fraction` is the public share of
    the training data, public / (public + members) -- dp-GAN's "2 : 98 as publicly available data D_pub and
    private data D_pri" (Zhang et al., Sec. 5) is 0.02 -- so the count is solved against the member count the
    split then draws from what is left."""
    fraction = float(cfg.dataset.get("public_fraction") or 0.0)
    if fraction == 0.0:
        return np.array([], dtype=int)
    if pool.groups is not None:
        raise ConfigError("dataset.public_fraction", "is not supported for datasets split by group (IDC)")
    if not 0 < fraction < 1:
        raise ConfigError("dataset.public_fraction", f"must be in [0, 1), got {fraction}")
    max_samples, member_fraction = cfg.dataset.max_samples, cfg.dataset.member_fraction

    def left_and_members(n_public: int) -> tuple[int, int]:
        left = len(available) - n_public
        left = min(left, int(max_samples)) if max_samples is not None else left
        return left, int(round(member_fraction * left))

    n_public = 0
    for _ in range(64):  # public = f / (1 - f) x members, members drawn from what public leaves: a fixed point
        left, n_members = left_and_members(n_public)
        wanted = int(round(fraction / (1 - fraction) * n_members))
        if wanted == n_public:
            break
        n_public = wanted
    left, n_members = left_and_members(n_public)
    if n_public < 1 or n_members < 1 or left - n_members < 1 or n_public > len(available):
        raise ConfigError(
            "dataset.public_fraction",
            f"a public share of {fraction} among {len(available)} records sets aside {n_public} public records and "
            f"leaves {left} to split into members and non-members: each side needs at least one, and the public "
            "set at least one record",
        )
    # with dataset.pool_seed every draw that defines the universe comes from it: the public records too, so every
    # seed's universe (LiRA's shadows and their target) is the same records
    pool_seed = cfg.dataset.get("pool_seed")
    rng = np.random.default_rng(derive(int(cfg.seed) if pool_seed is None else int(pool_seed), "public"))
    return np.sort(rng.choice(available, n_public, replace=False))


def _train(parts: Components, G, D, pool, membership, folder: RunFolder, seed: int, stop=None) -> dict:
    import torch

    from .audit.gradient import write_gradient_canaries
    from .io import write_torch
    from .training.checkpoint import Checkpoint

    members = torch.as_tensor(membership.training_idx)
    codes = parts.privacy.member_codes(len(members), seed, record_ids=membership.training_idx)
    public = None
    if parts.privacy.uses_public_data:  # only a mechanism that declares it reads the public records
        idx = torch.as_tensor(membership.extra["public_idx"])
        public = (pool.images[idx], pool.labels[idx])
    resume = Checkpoint(folder.resume_checkpoint)
    canaries = parts.audit.plant_gradient(parts.privacy, seed)
    result = parts.trainer.fit(
        G,
        D,
        parts.objective,
        parts.regularizer,
        pool.images[members],
        pool.labels[members],
        z_dim=parts.model.z_dim,
        conditional=parts.model.conditional,
        privacy=parts.privacy,
        codes=codes,
        n_classes=pool.n_classes,
        on_log=parts.logger.log,
        checkpoint=resume,
        public=public,
        stop=stop,
        n_nominal=_nominal_size(membership),
    )
    summary = result.summary()
    if canaries is not None:  # before last.pt: a trained run always has its canaries' scores
        write_gradient_canaries(folder.gradient_canaries_file, canaries.record())
    write_torch(
        folder.last_checkpoint,
        {
            "G": G.state_dict(),
            "D": D.state_dict(),
            "privacy": parts.privacy.state(),
            "privacy_record": parts.privacy.describe(),
            "member_codes": codes,
            "train": summary,
            "history": result.history,
        },
    )
    folder.write_history(result.history)
    resume.remove()  # training is over: last.pt is the record
    if stop is not None and stop.signal_name is not None:  # asked during the last epoch: stop now, trained
        raise Interrupted(stop.signal_name)
    return summary


def _nominal_size(membership) -> float | None:
    """With an audit's canaries, the training set's expected size, members + canaries / 2: the step count and
    a DP sample rate come from it, so neither depends on which canaries the coins drew in (None without)."""
    if "canary_idx" not in membership.extra:
        return None
    return len(membership.member_idx) + len(membership.extra["canary_idx"]) / 2


def build_gan(parts: Components, n_classes: int):
    """G and D as the mechanism builds them, D wrapped by the regularizer (untrained)."""
    G, D = parts.privacy.build_models(parts.model, parts.dataset.image_size, parts.dataset.channels, n_classes)
    return G, parts.regularizer.wrap(D)


def load_trained(folder: RunFolder, G, D, privacy, way_out: str = "stages") -> tuple[dict, dict]:
    """Loads the trained G and D (eval mode) and the mechanism's state from the run folder's checkpoint;
    returns (training's summary, training's privacy record). An unreadable checkpoint is refused naming
    the file and training again (`way_out`: the key of the job's own refusal)."""
    from .io import read_torch

    if not folder.last_checkpoint.exists():
        raise ConfigError(
            "stages",
            f"'train' is not among the stages, but there is no trained model at "
            f"{folder.last_checkpoint}: re-attack a run folder whose training finished",
        )
    try:
        state = read_torch(folder.last_checkpoint, ("G", "D", "train"))
    except Exception as exc:  # truncated zip, bad pickle, foreign file
        raise UnreadableFileError(
            way_out,
            f"the trained model {folder.last_checkpoint} cannot be read ({type(exc).__name__}: {exc}). Train "
            "the job again with resume=false and stages including train.",
        ) from None
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    privacy.load_state(state.get("privacy", {}))
    G.eval()
    D.eval()
    record = state.get("privacy_record")
    if record is None:  # a checkpoint from before the record was kept in it: the results training wrote
        record = (folder.results() or {}).get("privacy")
    return state["train"], record if record is not None else privacy.describe()


def trained_gan(parts: Components, G, D, pool, membership, cfg: DictConfig, device):
    """The read-only view of a trained G and D that attacks and metrics get (models moved to `device`)."""
    from .artifacts import TrainedGAN

    return TrainedGAN(
        G=G.to(device),
        D=D.to(device),
        objective=parts.objective,
        pool=pool,
        membership=membership,
        z_dim=parts.model.z_dim,
        conditional=parts.model.conditional,
        device=device,
        privacy=parts.privacy,
        seed=int(cfg.seed),
        pool_name=str(cfg.dataset.name),
    )


def load_trained_run(run_dir: Path, pool, device):
    """Another run folder's trained GAN, read against `pool` (the target's): a shadow model for LiRA."""
    from .data.split import Membership

    folder = RunFolder(run_dir)
    cfg = OmegaConf.create(folder.job_config())
    parts = build_components(cfg)
    G, D = build_gan(parts, pool.n_classes)
    load_trained(folder, G, D, parts.privacy)
    return trained_gan(parts, G, D, pool, Membership.load(folder.membership_file), cfg, device)


def _attack(parts: Components, trained, folder: RunFolder, seed: int):
    import hashlib

    from .attacks.figures import bootstrap_auc_ci, membership_figures
    from .io import write_npz

    dropped = folder.drop_scores_except(a.name for a in parts.attacks)
    if dropped:
        log.info("removed the scores of attacks no longer requested: %s", ", ".join(dropped))
    figures, all_scores, drawn, intervals = {}, {}, {}, {}
    for attack in parts.attacks:
        s = attack.scores(trained)
        drawn.update(s.split)
        write_npz(
            folder.scores_file(attack.name),
            scores=s.scores,
            is_member=s.is_member,
            record_idx=s.record_idx,
            threshold=float("nan") if s.threshold is None else s.threshold,
        )
        # attacks that score alike (white_box and top_m read the same d(x)) share one bootstrap
        key = (hashlib.sha1(s.scores.tobytes() + s.is_member.tobytes()).hexdigest(), attack.bootstrap)
        if key not in intervals:
            intervals[key] = bootstrap_auc_ci(s.is_member, s.scores.astype("float64"), attack.bootstrap, seed)
        figures[attack.name] = {
            **membership_figures(s.scores, s.is_member, s.threshold, attack.bootstrap, seed, auc_ci=intervals[key]),
            **s.extra,
        }
        all_scores[attack.name] = s
    if drawn:  # e.g. the Monte-Carlo attack's PCA reference set: every figure stays traceable
        trained.membership.extra.update(drawn)
        trained.membership.save(folder.membership_file)
    return figures, all_scores


def _audit(parts: Components, trained, attack_scores: dict, folder: RunFolder, privacy_record: dict) -> dict:
    """results.json's `audit`: the accountant's ε (if any) beside the one-run bound and the descriptive ε."""
    from .audit.gradient import read_gradient_canaries
    from .io import write_npz

    audit, membership = parts.audit, trained.membership
    out: dict = {
        "accountant_epsilon": _spent_epsilon(privacy_record),
        "delta": audit.delta_for(parts.privacy),
    }
    if audit.canaries is not None:
        signal = next(a for a in parts.attacks if a.name == audit.signal)
        canary_idx, canary_in = membership.extra["canary_idx"], membership.extra["canary_in"].astype(bool)
        out["one_run"], scores = audit.one_run(signal, trained, canary_idx, canary_in)
        write_npz(folder.canary_scores_file, canary_idx=canary_idx, canary_in=canary_in, scores=scores)
    if audit.gradient_canaries:
        out["gradient"] = audit.gradient(
            read_gradient_canaries(folder.gradient_canaries_file), parts.privacy, privacy_record
        )
    if audit.descriptive:
        out["descriptive"] = {
            name: audit.described(s.scores, s.is_member, out["delta"]) for name, s in attack_scores.items()
        }
    return out


def _spent_epsilon(privacy_record: dict) -> float | None:
    """The accountant's spent ε in a privacy record (None for a mechanism without a DP guarantee)."""
    spent = privacy_record.get("epsilon")
    return float(spent) if isinstance(spent, (int, float)) and not isinstance(spent, bool) else None


def _evaluate(parts: Components, trained) -> dict:
    metrics: dict = {}
    for metric in parts.metrics:
        metrics.update(metric.compute(trained))
    return metrics


def _plots(folder: RunFolder, attack_scores: dict, trained, privacy_record: dict, parts_attacks=()) -> None:
    from .plots import roc_plot, sample_grid, score_histogram

    spent, delta = _spent_epsilon(privacy_record), privacy_record.get("delta")
    dp = (spent, float(delta)) if spent is not None and isinstance(delta, (int, float)) else None
    if attack_scores:
        if not trained.privacy.releases_discriminator:  # the DP region speaks of G; such curves read a private D
            reads_d = {a.name for a in parts_attacks if a.reads_discriminator}
            attack_scores = {
                (f"{name} (reads D: not released, outside the guarantee)" if name in reads_d else name): s
                for name, s in attack_scores.items()
            }
        roc_plot(folder.plots_dir / "roc.png", attack_scores, dp)
        score_histogram(folder.plots_dir / "score_hist.png", attack_scores)
    sample_grid(folder.plots_dir / "samples.png", trained.sample(64))
