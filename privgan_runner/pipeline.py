"""train -> attack -> evaluate, and the run folder they fill (see CONTRACT.md).

Every stage reads what it needs from the run folder (membership.npz, checkpoints/last.pt), so
`stages=[attack,evaluate]` re-attacks a trained model in an existing run folder without retraining.
"""
from __future__ import annotations

import logging
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from .config import apply_trainer_profile, check_top_level
from .errors import ConfigError, DatasetNotFoundError
from .io import write_json
from .jobs import check_run_folder, record_job

log = logging.getLogger("privgan_runner")


@dataclass
class Components:
    """Everything a run is made of, built and checked before any work starts."""

    dataset: Any
    model: Any
    objective: Any
    regularizer: Any
    privacy: Any
    attacks: list
    metrics: list
    trainer: Any
    logger: Any


def build_components(cfg: DictConfig) -> Components:
    """Check the composed config and build every option; raises ConfigError naming the bad key."""
    check_top_level(cfg)
    from .attacks.base import Attack
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
        dataset=build(cfg.dataset, ImageDataset, "dataset", skip=("member_fraction", "max_samples")),
        model=build(cfg.model, GANModel, "model"),
        objective=build(cfg.objective, Objective, "objective", skip=("n_critic",)),
        regularizer=build(cfg.regularizer, Regularizer, "regularizer"),
        privacy=build(cfg.privacy, PrivacyMechanism, "privacy"),
        attacks=build_list(cfg.get("attack"), Attack, "attack"),
        metrics=build_list(cfg.get("metric"), Metric, "metric"),
        trainer=build(cfg.trainer, Trainer, "trainer"),
        logger=build(cfg.logger, Logger, "logger"),
    )
    if parts.model.conditional and parts.dataset.n_classes < 2:
        raise ConfigError("model.conditional", f"dataset {cfg.dataset.name} has no class labels to condition on")
    parts.model.build(parts.dataset.image_size, parts.dataset.channels, parts.dataset.n_classes)  # checks the shape
    return parts


def _run_dir(run_dir: str | Path | None) -> Path:
    if run_dir is not None:
        return Path(run_dir)
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else Path(os.getcwd())


def _status(run_dir: Path, status: str, stage: str, message: str = "") -> None:
    write_json(run_dir / "status.json", {"status": status, "stage": stage, "message": message,
                                         "time": time.strftime("%Y-%m-%dT%H:%M:%S")})


def run(cfg: DictConfig, run_dir: str | Path | None = None) -> dict:
    """Run the configured stages in `run_dir` (Hydra's job folder by default); returns results.json's content."""
    run_dir = _run_dir(run_dir)
    cfg = apply_trainer_profile(cfg)
    try:
        parts = build_components(cfg)  # bad config: nothing is loaded or trained
    except ConfigError as exc:
        _refused(run_dir, "config", exc)
        raise
    run_dir.mkdir(parents=True, exist_ok=True)
    config, trains = OmegaConf.to_container(cfg, resolve=True), "train" in cfg.stages
    finished = check_run_folder(run_dir, config, trains, resume=bool(cfg.get("resume", True)))
    if finished is not None:
        log.info("%s already finished (%s): not run again", run_dir, finished["status"])
        print_summary(finished)
        return finished
    import torch

    torch.manual_seed(cfg.seed)
    stage = "data"
    try:  # refusals that need the data (a batch larger than the member set, ...) come before any write
        pool, membership, drawn = _load_data(cfg, parts, run_dir, train=trains)
        stage = "config"
        n_members = len(membership.member_idx)
        parts.trainer.check_fits(n_members)
        parts.privacy.check(n_members, parts.trainer, parts.regularizer)
    except (ConfigError, DatasetNotFoundError) as exc:
        _refused(run_dir, stage, exc)
        raise
    if trains:  # the folder is this job's now: an earlier attempt's results.json is stale
        record_job(run_dir, config)
        (run_dir / "results.json").unlink(missing_ok=True)
        if not cfg.get("resume", True):  # from scratch: no earlier checkpoint is picked up
            (run_dir / "checkpoints" / "resume.pt").unlink(missing_ok=True)
    if drawn:
        membership.save(run_dir / "membership.npz")
    _status(run_dir, "running", "setup")
    stage = "setup"
    results: dict[str, Any] = {"status": "running", "experiment": cfg.get("name"), "seed": int(cfg.seed)}
    try:
        parts.logger.start(run_dir, config)
        results["dataset"] = {"name": cfg.dataset.name, "n_members": len(membership.member_idx),
                              "n_nonmembers": len(membership.nonmember_idx), "pool_size": len(pool),
                              "image_size": parts.dataset.image_size, "channels": parts.dataset.channels,
                              "sha256": pool.content_hash()}
        if "member_groups" in membership.extra:
            results["dataset"].update(n_member_groups=len(membership.extra["member_groups"]),
                                      n_nonmember_groups=len(membership.extra["nonmember_groups"]),
                                      split="provider partition" if pool.member_groups is not None else "seeded, by group")
        G, D = parts.privacy.build_models(parts.model, parts.dataset.image_size, parts.dataset.channels, pool.n_classes)
        D = parts.regularizer.wrap(D)
        results["privacy"] = parts.privacy.describe()

        stage = "train"
        _status(run_dir, "running", stage)
        if "train" in cfg.stages:
            train = _train(parts, G, D, pool, membership, run_dir, int(cfg.seed))
            results["privacy"] = parts.privacy.describe()  # now with what training spent
        else:  # the privacy record is training's: a re-attack keeps it as written
            train, results["privacy"] = _load_checkpoint(run_dir, G, D, parts.privacy)
        results["train"] = {k: v for k, v in train.items() if k != "status"}
        if train["status"] == "collapsed":
            results.update(status="collapsed", attacks={}, metrics={},
                           attacks_reason=f"training collapsed: {train['message']}")
            return _finish(cfg, parts, results, run_dir, "train", train["message"])

        from .artifacts import TrainedGAN
        from .training.trainer import resolve_device

        trained = TrainedGAN(G=G, D=D, objective=parts.objective, pool=pool, membership=membership,
                             z_dim=parts.model.z_dim, conditional=parts.model.conditional,
                             device=resolve_device(parts.trainer.device_name), privacy=parts.privacy,
                             seed=int(cfg.seed), pool_name=str(cfg.dataset.name))
        trained.G.to(trained.device)
        trained.D.to(trained.device)
        attack_scores: dict = {}
        if "attack" in cfg.stages:
            stage = "attack"
            _status(run_dir, "running", stage)
            results["attacks"], attack_scores = _attack(parts, trained, run_dir, int(cfg.seed))
        if "evaluate" in cfg.stages:
            stage = "evaluate"
            _status(run_dir, "running", stage)
            results["metrics"] = _evaluate(parts, trained)
        stage = "plots"
        _plots(run_dir, attack_scores, trained)
        results["status"] = "completed"
        return _finish(cfg, parts, results, run_dir, stage)
    except (ConfigError, DatasetNotFoundError) as exc:
        _status(run_dir, "failed", stage, str(exc))
        raise
    except Exception as exc:
        results.update(status="failed", error=f"{type(exc).__name__}: {exc}", failed_stage=stage)
        _finish(cfg, parts, results, run_dir, stage, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        raise


def _finish(cfg, parts: Components, results: dict, run_dir: Path, stage: str, message: str = "") -> dict:
    import torch

    results["versions"] = {"privgan_runner": __import__("privgan_runner").__version__, "torch": torch.__version__}
    results["config"] = OmegaConf.to_container(cfg, resolve=True)
    write_json(run_dir / "results.json", results)
    _status(run_dir, results["status"], stage, message)
    try:
        parts.logger.finish(results, run_dir)
    finally:
        print_summary(results)
    return results


def _refused(run_dir: Path, stage: str, exc: Exception) -> None:
    """A job refused before its work: status.json alone says why (a sweep's report still sees the job)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    _status(run_dir, "failed", stage, str(exc))


def _load_data(cfg: DictConfig, parts: Components, run_dir: Path, train: bool):
    """(pool, membership, drawn): the saved split when re-attacking, else the seed's split (drawn = True,
    to be saved once the run is accepted). Writes nothing."""
    from .data.split import Membership, split_by_group, split_pool

    pool = parts.dataset.load()
    saved = run_dir / "membership.npz"
    if not train and saved.exists():
        return pool, Membership.load(saved), False  # re-attacking: the split the model was trained on
    if pool.groups is not None:  # records of one group (IDC patient) never straddle the split
        membership = split_by_group(pool.groups, cfg.dataset.member_fraction, cfg.dataset.max_samples,
                                    int(cfg.seed), pool.member_groups)
    else:
        membership = split_pool(len(pool), cfg.dataset.member_fraction, cfg.dataset.max_samples, int(cfg.seed))
    return pool, membership, True


def _train(parts: Components, G, D, pool, membership, run_dir: Path, seed: int) -> dict:
    import torch

    from .io import write_torch

    from .training.trainer import Checkpoint

    members = torch.as_tensor(membership.member_idx)
    codes = parts.privacy.member_codes(len(members), seed)
    resume = Checkpoint(run_dir / "checkpoints" / "resume.pt")
    result = parts.trainer.fit(G, D, parts.objective, parts.regularizer, pool.images[members], pool.labels[members],
                               z_dim=parts.model.z_dim, conditional=parts.model.conditional,
                               privacy=parts.privacy, codes=codes, n_classes=pool.n_classes, on_log=parts.logger.log,
                               checkpoint=resume)
    summary = result.summary()
    write_torch(run_dir / "checkpoints" / "last.pt",
                {"G": G.state_dict(), "D": D.state_dict(), "privacy": parts.privacy.state(),
                 "privacy_record": parts.privacy.describe(), "member_codes": codes, "train": summary,
                 "history": result.history})
    resume.path.unlink(missing_ok=True)  # training is over: last.pt is the record
    return summary


def _load_checkpoint(run_dir: Path, G, D, privacy) -> tuple[dict, dict]:
    """Loads the trained G and D; returns (training's summary, training's privacy record)."""
    import json

    import torch

    path = run_dir / "checkpoints" / "last.pt"
    if not path.exists():
        raise ConfigError("stages", f"'train' is not among the stages, but there is no checkpoint at {path}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    privacy.load_state(state.get("privacy", {}))
    G.eval()
    D.eval()
    record = state.get("privacy_record")
    if record is None:  # a checkpoint from before the record was kept in it: the results training wrote
        earlier = run_dir / "results.json"
        record = json.loads(earlier.read_text()).get("privacy") if earlier.is_file() else None
    return state["train"], record if record is not None else privacy.describe()


def _attack(parts: Components, trained, run_dir: Path, seed: int):
    from .attacks.figures import membership_figures
    from .io import write_npz

    figures, all_scores, drawn = {}, {}, {}
    for attack in parts.attacks:
        s = attack.scores(trained)
        drawn.update(s.split)
        write_npz(run_dir / "scores" / f"{attack.name}.npz", scores=s.scores, is_member=s.is_member,
                  record_idx=s.record_idx, threshold=float("nan") if s.threshold is None else s.threshold)
        figures[attack.name] = {**membership_figures(s.scores, s.is_member, s.threshold, attack.bootstrap, seed),
                                **s.extra}
        all_scores[attack.name] = s
    if drawn:  # e.g. the Monte-Carlo attack's PCA reference set: every figure stays traceable
        trained.membership.extra.update(drawn)
        trained.membership.save(run_dir / "membership.npz")
    return figures, all_scores


def _evaluate(parts: Components, trained) -> dict:
    metrics: dict = {}
    for metric in parts.metrics:
        metrics.update(metric.compute(trained))
    return metrics


def _plots(run_dir: Path, attack_scores: dict, trained) -> None:
    from .plots import roc_plot, sample_grid, score_histogram

    plots = run_dir / "plots"
    if attack_scores:
        roc_plot(plots / "roc.png", attack_scores)
        score_histogram(plots / "score_hist.png", attack_scores)
    sample_grid(plots / "samples.png", trained.sample(64))


def print_summary(results: dict) -> None:
    """The compact console table: one row per attack, then the metrics."""
    lines = [f"\n{results.get('experiment') or 'run'}  seed={results.get('seed')}  status={results['status']}"]
    train = results.get("train") or {}
    if train:
        lines.append(f"train: {train.get('steps')} steps in {train.get('seconds')} s on {train.get('device')}"
                     + (f"  ({train['message']})" if train.get("message") else ""))
    attacks = results.get("attacks") or {}
    if attacks:
        head = f"{'attack':<12} {'AUC':>6} {'95% CI':>13} {'F1':>6} {'bal.acc':>7} {'TPR@1%':>7} {'TPR@.1%':>7} {'top-m':>6} {'chance':>6}"
        lines += [head, "-" * len(head)]
        for name, f in attacks.items():
            ci = f.get("auc_ci")
            ci_text = f"[{ci[0]:.3f},{ci[1]:.3f}]" if ci else "-"
            lines.append(f"{name:<12} {f['auc']:>6.3f} {ci_text:>13} {_fmt(f.get('f1')):>6} "
                         f"{_fmt(f.get('balanced_accuracy')):>7} {f['tpr_at_1pct_fpr']:>7.3f} "
                         f"{f['tpr_at_0p1pct_fpr']:>7.3f} {f['top_m_accuracy']:>6.3f} {f['chance']:>6.3f}")
    metrics = results.get("metrics") or {}
    if metrics:
        lines.append("metrics: " + "  ".join(f"{k}={_fmt(v)}" for k, v in metrics.items()
                                              if isinstance(v, (int, float)) or v is None))
    if results.get("error"):
        lines.append(f"error: {results['error']}")
    print("\n".join(lines), flush=True)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
