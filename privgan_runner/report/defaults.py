"""What a run written before a configuration key existed would have had: the key's current default.

A run folder records its resolved config; a key added to an option later is absent from older runs, and a
table that grouped by it would split one configuration in two. A key is filled from the option file the run
itself chose (`privacy.grad_sample` of a run with `privacy.name: dpsgd` from conf/privacy/dpsgd.yaml; a list
group's `attack.white_box.bootstrap` from conf/attack/white_box.yaml; a group the run has no record of at all
from the option conf/config.yaml's defaults list picks; a top-level key from conf/config.yaml). A default
that is an interpolation, or an option file that does not set the key, fills nothing: the run then stays
apart and the report says which key kept it apart.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

MISSING = object()


@cache
def _conf(*parts: str) -> dict:
    path = resources.files("privgan_runner.conf").joinpath(*parts)
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def _default_choices() -> dict[str, Any]:
    """conf/config.yaml's defaults list as {group: option (or list of options)}."""
    choices: dict[str, Any] = {}
    for entry in _conf("config.yaml").get("defaults", []):
        if isinstance(entry, dict):
            choices.update(entry)
    return choices


def _lookup(node: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def default_value(key: str, config: dict) -> Any:
    """`key`'s current default for a run whose flat config is `config` (MISSING when there is none)."""
    group, _, rest = key.partition(".")
    choices = _default_choices()
    if group not in choices or not rest:
        value = _lookup(_conf("config.yaml"), key.split("."))
    elif isinstance(choices[group], list):  # attack / metric: the option is the key's second part
        option, _, inner = rest.partition(".")
        value = _lookup(_conf(group, f"{option}.yaml"), inner.split(".")) if inner else MISSING
    else:
        option = config.get(f"{group}.name", choices[group])
        value = _lookup(_conf(group, f"{option}.yaml"), rest.split("."))
    if isinstance(value, (dict, list)) or (isinstance(value, str) and "${" in value):
        return MISSING
    return value


def _option_of(key: str, config: dict) -> str:
    """Which option of its group a key belongs to in this run (`` for a top-level key): rows of different
    options lack each other's keys for a reason."""
    group, _, rest = key.partition(".")
    choices = _default_choices()
    if group not in choices:
        return ""
    if isinstance(choices[group], list):
        option = rest.partition(".")[0]
        return option if any(k.startswith(f"{group}.{option}.") for k in config) else ""
    return str(config.get(f"{group}.name", choices[group]))


def fill_defaults(rows: list[dict]) -> list[str]:
    """Fill each row's absent configuration keys (present in another row) with their current defaults, noting
    them in the row's `filled`; returns the keys a row still lacks although a row of the same option has them
    (they keep that row apart, unexplained)."""
    keys = sorted({k for row in rows for k in row["config"]})
    unfilled = set()
    for row in rows:
        row.setdefault("filled", [])
        for key in keys:
            if key in row["config"]:
                continue
            value = default_value(key, row["config"])
            if value is not MISSING:
                row["config"][key] = value
                row["filled"].append(key)
                continue
            top_level = key.partition(".")[0] not in _default_choices()
            option = _option_of(key, row["config"])
            if top_level or (
                option and any(_option_of(key, r["config"]) == option for r in rows if key in r["config"])
            ):
                unfilled.add(key)
    return sorted(unfilled)
