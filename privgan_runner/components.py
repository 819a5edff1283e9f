"""Build a config group's option from its `_target_` and check it is the group's kind.

Every group option is a yaml file naming its class with `_target_`; keys that describe the option
rather than configure the class (`name`, and those a caller consumes itself) are not passed on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from .errors import ConfigError

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
