"""What a run is made of (`Components`, `build_components`): each config group's option built from its
`_target_` and checked to be the group's kind, before any work starts.

Every group option is a yaml file naming its class with `_target_`; keys that describe the option
rather than configure the class (`name`, and those a caller consumes itself) are not passed on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from .config import check_top_level
from .errors import ConfigError

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

T = TypeVar("T")


def build(node: DictConfig, base: type[T], key: str, skip: Iterable[str] = (), **kwargs: Any) -> T:
    """Instantiate `node` (a group option) and check it is a `base`; errors name `key`."""
    from hydra.utils import get_class

    params = OmegaConf.to_container(node, resolve=True)
    if "_target_" not in params:
        raise ConfigError(key, "has no `_target_` naming the class that implements it")
    target = params.pop("_target_")
    name = params.pop("name", None)
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{key}.name", f"must be the option's name (a string), got {name!r}")
    for skipped in skip:
        params.pop(skipped, None)
    try:
        cls = get_class(target)
    except Exception as exc:  # hydra wraps import failures in its own error types
        raise ConfigError(f"{key}._target_", f"cannot import {target!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"{key}._target_", f"{target} is not a {base.__name__}")
    try:
        obj = cls(**params, **kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{key}.{exc.key}", str(exc).split(": ", 1)[1]) from None
    except TypeError as exc:
        raise ConfigError(key, f"{target} rejected its options: {exc}") from None
    obj.name = name or cls.__name__.lower()
    return obj


def build_list(node: DictConfig, base: type[T], key: str, **kwargs: Any) -> list[T]:
    """A list group (attack, metric): one option per sub-key, in config order."""
    if node is None:
        return []
    return [build(sub, base, f"{key}.{name}", **kwargs) for name, sub in node.items()]


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
