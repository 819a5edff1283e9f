"""The train stage: G and D built, trained under the privacy mechanism (or loaded when trained before), and
handed on read-only. Reads checkpoints/resume.pt to resume; writes checkpoints/last.pt (with the mechanism's
state and record), checkpoints/gradient_canaries.npz (the white-box audit's scores) and history.csv."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ..components import build_components
from ..errors import ConfigError, Interrupted, UnreadableFileError
from ..run_folder import RunFolder
from .data import nominal_size

log = logging.getLogger("privgan_runner")


def train_or_load(parts, G, D, data, folder: RunFolder, seed: int, trains: bool, trained_before: bool, stop):
    """(training's summary, the privacy record): trained now, or read from the folder -- a re-attack's model, or
    one an earlier attempt of this job finished training (its summary says so)."""
    _, pool, membership, _ = data
    if trains and not trained_before:
        summary = train(parts, G, D, pool, membership, folder, seed, stop)
        return summary, parts.privacy.describe()  # now with what training spent
    summary, record = load_trained(folder, G, D, parts.privacy, way_out="resume" if trains else "stages")
    if trained_before:
        log.info("%s: training finished in an earlier attempt; its model is loaded", folder.path)
        note = f"trained in an earlier attempt: loaded {folder.last_checkpoint}"
        summary = {**summary, "notes": [*summary.get("notes", []), note]}
    return summary, record  # a re-attack keeps training's privacy record as written


def handed_on(parts, G, D, data, cfg: DictConfig, identity: dict):
    """The trained GAN as attacks and metrics read it, on the trainer's device."""
    from ..training.devices import resolve_device

    _, pool, membership, _ = data
    device = resolve_device(parts.trainer.device_name)
    trained = trained_gan(parts, G, D, pool, membership, cfg, device)
    trained.identity = identity
    trained.load_run = partial(load_trained_run, pool=pool, device=device)
    return trained


def train(parts, G, D, pool, membership, folder: RunFolder, seed: int, stop=None) -> dict:
    import torch

    from ..audit.gradient import write_gradient_canaries
    from ..io import write_torch
    from ..training.checkpoint import Checkpoint

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
        n_nominal=nominal_size(membership),
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


def build_gan(parts, n_classes: int):
    """G and D as the mechanism builds them, D wrapped by the regularizer (untrained)."""
    G, D = parts.privacy.build_models(parts.model, parts.dataset.image_size, parts.dataset.channels, n_classes)
    return G, parts.regularizer.wrap(D)


def load_trained(folder: RunFolder, G, D, privacy, way_out: str = "stages") -> tuple[dict, dict]:
    """Loads the trained G and D (eval mode) and the mechanism's state from the run folder's checkpoint;
    returns (training's summary, training's privacy record). An unreadable checkpoint is refused naming
    the file and training again (`way_out`: the key of the job's own refusal)."""
    from ..io import read_torch

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


def trained_gan(parts, G, D, pool, membership, cfg: DictConfig, device):
    """The read-only view of a trained G and D that attacks and metrics get (models moved to `device`)."""
    from ..artifacts import TrainedGAN

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
    from ..data.split import Membership

    folder = RunFolder(run_dir)
    cfg = OmegaConf.create(folder.job_config())
    parts = build_components(cfg)
    G, D = build_gan(parts, pool.n_classes)
    load_trained(folder, G, D, parts.privacy)
    return trained_gan(parts, G, D, pool, Membership.load(folder.membership_file), cfg, device)
