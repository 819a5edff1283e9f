"""Find run folders and flatten each one's results.json into one row of named values."""
from __future__ import annotations

import json
from pathlib import Path

#: configuration columns: what tells one row of a table from another (seeds are aggregated)
CONFIG_KEYS = ("experiment", "dataset", "objective", "regularizer", "privacy", "lam", "n_groups", "epsilon_target")

#: figures reported per attack, in table order
ATTACK_FIGURES = ("auc", "f1", "balanced_accuracy", "top_m_accuracy", "tpr_at_1pct_fpr", "tvd",
                  "mc_single_accuracy", "mc_set_accuracy")


def find_runs(paths) -> list[Path]:
    """Every folder below `paths` holding a status.json (a job that started)."""
    runs = set()
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such run folder or sweep folder")
        found = [path] if (path / "status.json").is_file() else [p.parent for p in path.rglob("status.json")]
        runs.update(found)
    return sorted(runs)


def flatten(run: Path) -> dict:
    """One row: configuration keys, seed, status, and every figure as `attack.figure` / `metric`."""
    results_path = run / "results.json"
    status = json.loads((run / "status.json").read_text())
    if results_path.is_file():
        r = json.loads(results_path.read_text())
    else:  # a job that failed before its results (or is still running): its config is in .hydra/
        r = {"status": status.get("status", "failed"), "config": _hydra_config(run)}
        r["experiment"], r["seed"] = r["config"].get("name"), r["config"].get("seed")
    cfg = r.get("config") or {}
    privacy = r.get("privacy") or {k: v for k, v in cfg.get("privacy", {}).items() if k in ("lam", "n_groups")}
    privacy.setdefault("target_epsilon", cfg.get("privacy", {}).get("epsilon"))
    row = {
        "run": str(run), "status": r.get("status"), "seed": r.get("seed"),
        "experiment": r.get("experiment"),
        "dataset": (r.get("dataset") or {}).get("name") or cfg.get("dataset", {}).get("name"),
        "objective": cfg.get("objective", {}).get("name"), "regularizer": cfg.get("regularizer", {}).get("name"),
        "privacy": privacy.get("mechanism") or cfg.get("privacy", {}).get("name"),
        "lam": privacy.get("lam"), "n_groups": privacy.get("n_groups"),
        "epsilon_target": privacy.get("target_epsilon"), "epsilon_spent": privacy.get("epsilon"),
    }
    for attack, figures in (r.get("attacks") or {}).items():
        for name in ATTACK_FIGURES:
            if isinstance(figures.get(name), (int, float)):
                row[f"{attack}.{name}"] = figures[name]
    for name, value in (r.get("metrics") or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            row[name] = value
    return row


def _hydra_config(run: Path) -> dict:
    path = run / ".hydra" / "config.yaml"
    if not path.is_file():
        return {}
    from omegaconf import OmegaConf

    import privgan_runner  # noqa: F401  (registers the resolvers the config may use)

    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)
