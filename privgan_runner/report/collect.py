"""Find run folders and read each one into a row: its status, its configuration and every figure it reports.

A row's configuration is the job's resolved config as flat dotted keys (`trainer.epochs`), without the
seed and without the keys that say how a job runs rather than what it computes (run_folder.EXECUTION_KEYS):
the report groups runs whose configurations are equal and treats the seeds inside a group as repeats.
A row's figures are every number the run reports: each attack's figures (nested ones dotted, e.g.
`white_box.mean_over_views.auc`), each metric, and the spent epsilon.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..run_folder import RunFolder, identity

#: configuration keys that are not configurations: the repeats of one
REPEAT_KEYS = ("seed",)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None


def _well_formed(results) -> bool:
    """results.json's shape (docs/results.md): an object whose sections are objects."""
    return isinstance(results, dict) and all(
        isinstance(results[k], dict) for k in ("attacks", "metrics", "config", "audit", "privacy") if k in results
    )


def _gradient_figures(gradient: dict | None) -> dict:
    """The white-box audit's figures: its own numbers (not the ceiling's simulations or the f-DP test's detail),
    with claim_rejected as 1 / 0."""
    if not gradient:
        return {}
    out = {k: v for k, v in gradient.items() if not isinstance(v, (dict, list, bool))}
    if isinstance(gradient.get("claim_rejected"), bool):
        out["claim_rejected"] = int(gradient["claim_rejected"])
    return out


def _numbers(node: Any, prefix: str) -> dict[str, float]:
    """Every int/float below `node` as {prefix.key: value}; an interval `*_ci` [low, high] as `*_ci_low`,
    `*_ci_high` (other lists and strings are not figures)."""
    if isinstance(node, dict):
        out: dict[str, float] = {}
        for key, value in node.items():
            out.update(_numbers(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if (
        prefix.endswith("_ci")
        and isinstance(node, list)
        and len(node) == 2
        and all(isinstance(v, (int, float)) for v in node)
    ):
        return {f"{prefix}_low": node[0], f"{prefix}_high": node[1]}
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return {prefix: node}
    return {}


def flatten(run: Path) -> dict:
    """One row: {"run", "status", "seed", "config": {dotted key: value}, "figures": {name: number},
    "described": results.json's figure descriptions, "most_exposed": {attack: records}}."""
    status = _read_json(run / "status.json") or {}
    results = _read_json(run / "results.json")
    if not _well_formed(results):
        results = None  # hand-edited into another shape: read as damaged
    if results is None:  # a job that failed before its results (or is still running), or a damaged results.json
        job = _read_json(run / "job.json") or {}
        config = job.get("config") or _hydra_config(run)
        state = "unreadable" if (run / "results.json").exists() else status.get("status", "failed")
        results = {"status": state, "config": config, "seed": config.get("seed")}
    if results.get("status") == "running" and not RunFolder(run).held():
        results = {**results, "status": "stale"}  # killed: no process holds the folder's lock
    config = results.get("config") or {}
    figures: dict[str, float] = {}
    for attack, values in (results.get("attacks") or {}).items():
        figures.update(_numbers(values, attack))
    figures.update(_numbers(results.get("metrics") or {}, ""))
    audit = results.get("audit") or {}
    figures.update(_numbers({k: audit[k] for k in ("one_run", "descriptive") if k in audit}, "audit"))
    figures.update(_numbers(_gradient_figures(audit.get("gradient")), "audit.gradient"))
    spent = (results.get("privacy") or {}).get("epsilon")
    if isinstance(spent, (int, float)) and not isinstance(spent, bool):
        figures["epsilon_spent"] = spent
    flat = identity(config, training_only=False)
    return {
        "run": str(run),
        "status": results.get("status"),
        "seed": results.get("seed", config.get("seed")),
        "config": {k: v for k, v in flat.items() if k not in REPEAT_KEYS},
        "figures": figures,
        "described": results.get("figures") or {},
        # attack -> the records it found most exposed (LiRA), listed in the report
        "most_exposed": {
            a: v["most_exposed"] for a, v in (results.get("attacks") or {}).items() if "most_exposed" in v
        },
    }


def _hydra_config(run: Path) -> dict:
    """Hydra's record of the job's config, resolved where it can be (as results.json's is)."""
    path = run / ".hydra" / "config.yaml"
    if not path.is_file():
        return {}
    from omegaconf import OmegaConf

    import privgan_runner  # noqa: F401  (registers the resolvers the config may use)

    cfg = OmegaConf.load(path)
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # an interpolation that cannot resolve (the job failed on it): keep it as written
        return OmegaConf.to_container(cfg, resolve=False)
