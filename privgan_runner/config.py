"""Config-level rules: the `wu_lr` resolver and the checks on top-level keys (no torch imported).

Each option's own parameters are checked by its class when it is built (see components.build);
what is checked here is what no single option owns.
"""

from __future__ import annotations

from importlib import resources

from omegaconf import DictConfig, OmegaConf

from .errors import ConfigError


def wu_lr(objective: str, regularizer: str) -> float:
    """Wu et al. 2019 Sec. 4.1: Adam lr 4e-4 for the plain JS GAN (no regularizer), 2e-4 for all others."""
    return 4e-4 if (objective, regularizer) == ("js", "none") else 2e-4


OmegaConf.register_new_resolver("wu_lr", wu_lr, replace=True)


def hydra_record_folder(stages) -> str:
    """Where Hydra writes a job's config record: a folder of this process's own (run_folder.PENDING_RECORD),
    which the job renames to `.hydra` (training) or `.hydra-attack` (a re-attack) once it holds the folder's
    lock and is accepted -- so neither a re-attack nor a refused job overwrites the training job's record.
    Called in the process that runs the job (a launcher's worker included)."""
    import os

    return f".hydra-pending-{os.getpid()}"


OmegaConf.register_new_resolver("hydra_record_folder", hydra_record_folder, replace=True)

STAGES = ("train", "attack", "evaluate")
#: trainer options that are profiles: their keys win over an experiment's (applied after composition)
TRAINER_PROFILES = ("quick",)


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def reattack_config(trained: dict | None, current: DictConfig, overrides: list[str]) -> DictConfig:
    """A re-attack's config: the trained model's (job.json) with the attack, metric and execution keys of
    `current`. A training key given on the command line must agree with the model's (it cannot change it)."""
    from .run_folder import EVALUATION_KEYS, EXECUTION_KEYS, identity

    if trained is None:  # no model here: the run says so when it looks for the checkpoint
        return current
    kept = EVALUATION_KEYS + EXECUTION_KEYS
    given = {_override_key(o) for o in overrides if not _override_key(o).startswith("hydra")}
    model = identity(trained, training_only=True)
    for key in sorted(given):
        if any(key == k or key.startswith(k + ".") for k in kept):
            continue
        now, then = OmegaConf.select(current, key, default=None), model.get(key)
        if then is not None and now != then:
            raise ConfigError(
                key,
                f"is {then!r} for the model trained in this run folder, not {now!r}: a re-attack "
                "takes the model's configuration from job.json (give only attack=, metric= and "
                "execution overrides, or train a new run folder)",
            )
    merged = OmegaConf.create(trained)
    for key in kept:
        if key == "name" and "name" not in given:  # the run keeps its experiment's name unless one is given
            continue
        value = OmegaConf.select(current, key, default=None)
        if value is not None or key in ("attack", "metric"):
            OmegaConf.update(
                merged,
                key,
                OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value,
                force_add=True,
                merge=False,
            )
    return merged


def apply_trainer_profile(cfg: DictConfig) -> DictConfig:
    """`trainer=quick` wins: an `+experiment` file is composed after the trainer group and would otherwise
    set its own epochs over the profile's, so the profile's keys are merged once more, last."""
    name = OmegaConf.select(cfg, "trainer.name")
    if name not in TRAINER_PROFILES:
        return cfg
    text = resources.files("privgan_runner.conf").joinpath("trainer", f"{name}.yaml").read_text()
    profile = {k: v for k, v in OmegaConf.to_container(OmegaConf.create(text)).items() if k != "defaults"}
    return OmegaConf.merge(cfg, {"trainer": profile})


def _number(cfg: DictConfig, key: str):
    try:
        return OmegaConf.select(cfg, key, throw_on_missing=True)
    except Exception as exc:
        raise ConfigError(key, f"cannot be resolved: {exc}") from None


def seed_like(value) -> bool:
    """A seed numpy and torch accept: an integer in [0, 2^63) (a bool is no seed)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def check_stages(cfg: DictConfig) -> None:
    """`stages`: a non-empty list drawn from STAGES."""
    stages = _number(cfg, "stages")
    if not OmegaConf.is_list(stages) and not isinstance(stages, list):
        raise ConfigError("stages", f"must be a non-empty list drawn from {list(STAGES)}, got {stages!r}")
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not len(stages):
        raise ConfigError("stages", f"must be a non-empty list drawn from {list(STAGES)}, got {list(stages)}")


def check_top_level(cfg: DictConfig) -> None:
    """Fail fast, naming the key and the allowed range, before anything is built or loaded."""
    seed = _number(cfg, "seed")
    if not seed_like(seed):
        raise ConfigError("seed", f"must be an integer in [0, 2^63), got {seed!r}")
    fraction = _number(cfg, "dataset.member_fraction")
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 < fraction < 1:
        raise ConfigError("dataset.member_fraction", f"must be in (0, 1) (exclusive), got {fraction!r}")
    public = _number(cfg, "dataset.public_fraction")
    if public is not None and (not isinstance(public, (int, float)) or isinstance(public, bool) or not 0 <= public < 1):
        raise ConfigError("dataset.public_fraction", f"must be in [0, 1), got {public!r}")
    pool_seed = _number(cfg, "dataset.pool_seed")
    if pool_seed is not None and not seed_like(pool_seed):
        raise ConfigError("dataset.pool_seed", f"must be null or an integer in [0, 2^63), got {pool_seed!r}")
    max_samples = _number(cfg, "dataset.max_samples")
    if max_samples is not None and (not isinstance(max_samples, int) or max_samples < 2):
        raise ConfigError(
            "dataset.max_samples", f"must be null (the whole pool) or an integer >= 2, got {max_samples!r}"
        )
    check_stages(cfg)
    for group in ("attack", "metric"):
        node = cfg.get(group)
        if node is not None and not isinstance(node, DictConfig):
            raise ConfigError(group, f"must be a list of {group} options, e.g. {group}=[...]")
