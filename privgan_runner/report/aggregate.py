"""Rows of runs -> one row per configuration: mean ± std over seeds, N/A where every run collapsed, and a
paper's value beside ours where the dataset and the protocol are the paper's.

Runs are grouped by every configuration key whose value differs between the runs given (the seed and
the execution keys aside: see collect.py); those keys are the table's configuration columns. Runs that
differ in anything else (epochs, width, member fraction, noise multiplier, ...) are never averaged as if
they were seeds, and a failed job counts only in its own configuration's row.
"""

from __future__ import annotations

import csv
import json
import math
from importlib import resources
from typing import Any

#: options in the order the papers' tables list them (Wu et al. Table 1); others follow alphabetically
TABLE_ORDER = {
    "objective.name": ("js", "wasserstein"),
    "regularizer.name": ("none", "weight_clip", "spectral_norm", "gradient_penalty"),
    "privacy.name": ("none", "dpsgd", "pigan", "privgan"),
}
#: configuration columns listed first, in this order; the other varying keys follow alphabetically
LEADING_KEYS = (
    "name",
    "dataset.name",
    "objective.name",
    "regularizer.name",
    "privacy.name",
    "privacy.lam",
    "privacy.n_groups",
    "privacy.epsilon",
)

#: the protocols under which the papers' tables were measured: a paper's value is shown beside a row
#: only when the row's configuration has every one of these values
WU_PROTOCOL = {
    "dataset.member_fraction": 0.5,
    "dataset.max_samples": None,
    "trainer.epochs": 400,
    "trainer.batch_size": 64,
    "model.name": "dcgan",
    "privacy.name": "none",
}
PIGAN_PROTOCOL = {
    "dataset.name": "fashion_mnist",
    "dataset.member_fraction": 0.1,
    "dataset.max_samples": None,
    "trainer.epochs": 300,
    "trainer.batch_size": 128,
    "model.name": "pigan_dcgan",
    "privacy.name": "pigan",
    "privacy.pretrain_epochs": 50,
    "privacy.warmup_epochs": 200,
}


def _order(value, key: str = "") -> tuple:
    """Sort numbers numerically (lambda 2 before 10), then known options in table order, then other
    strings, then missing values."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    if value is None:
        return (2, 0.0, "")
    known = TABLE_ORDER.get(key, ())
    return (1, float(known.index(value)) if value in known else float(len(known)), str(value))


def _hashable(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


UNSET = "<unset>"
#: a run's states that are neither a result nor a failure: "interrupted" (stopped by a signal, to be started
#: again), "running" (a process holds its folder), "stale" (status says running, but no process holds it: killed)
UNFINISHED = ("interrupted", "running", "stale")


def varying_keys(rows: list[dict]) -> list[str]:
    """The configuration keys whose values differ between the rows (leading keys first)."""
    keys = sorted({k for r in rows for k in r["config"]})
    varying = [k for k in keys if len({_hashable(r["config"].get(k, UNSET)) for r in rows}) > 1]
    leading = [k for k in LEADING_KEYS if k in varying]
    return leading + [k for k in varying if k not in leading]


def _determines(table: list[dict], j: str, k: str) -> bool:
    """Whether column j's value fixes column k's across the table."""
    seen: dict[str, str] = {}
    for row in table:
        a, b = _hashable(row["config"].get(j)), _hashable(row["config"].get(k))
        if seen.setdefault(a, b) != b:
            return False
    return True


def shown_columns(table: list[dict], columns: list[str]) -> list[str]:
    """The configuration columns worth printing: a column whose value follows from an earlier shown one
    across the table (a group's `_target_` and its own keys follow its `name`; Wu's lr follows the
    regularizer) is left to the CSV."""
    shown: list[str] = []
    for key in columns:
        if not any(_determines(table, j, key) for j in shown):
            shown.append(key)
    return shown


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation over seeds (0 for one seed)."""
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std


def aggregate(rows: list[dict]) -> tuple[list[dict], list[str], list[str]]:
    """Returns (table rows, configuration columns, figure names).

    A table row is {"config": {column: value}, "full_config": the group's whole configuration,
    "seeds", "completed", "collapsed", "failed", one count per UNFINISHED state, "figures": {name: cell},
    "runs": [run rows]}; a figure cell is {"mean", "std", "n"} or a string ("N/A", "failed", "unreadable":
    results.json is damaged, or the unfinished state); "failed" counts the runs that failed, were refused or
    cannot be read -- never one that is still running or was stopped."""
    columns = varying_keys(rows)
    figures = sorted({name for r in rows for name in r["figures"]})
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(_hashable(row["config"].get(k, UNSET)) for k in columns), []).append(row)
    table = []
    for runs in groups.values():
        done = [r for r in runs if r.get("status") == "completed"]
        collapsed = sum(r.get("status") == "collapsed" for r in runs)
        unfinished = {word: sum(r.get("status") == word for r in runs) for word in UNFINISHED}
        failed = len(runs) - len(done) - collapsed - sum(unfinished.values())  # failed, refused, unreadable
        cells: dict[str, Any] = {}
        for name in figures:
            values = [r["figures"][name] for r in done if name in r["figures"]]
            if values:
                mean, std = mean_std(values)
                cells[name] = {"mean": mean, "std": std, "n": len(values)}
            elif not done and not collapsed:
                states = {r.get("status") for r in runs}
                cells[name] = next((s for s in ("failed", "unreadable", *UNFINISHED) if s in states), "failed")
            elif collapsed and not done:
                cells[name] = "N/A"
        table.append(
            {
                "config": {k: runs[0]["config"].get(k) for k in columns},
                "full_config": runs[0]["config"],
                "seeds": len(runs),
                "completed": len(done),
                "collapsed": collapsed,
                "failed": failed,
                **unfinished,
                "figures": cells,
                "runs": runs,
            }
        )
    table.sort(key=lambda r: tuple(_order(r["config"].get(k), k) for k in columns))
    return table, columns, figures


def _read_reference(name: str) -> list[dict]:
    text = resources.files("privgan_runner.report").joinpath("reference", name).read_text()
    return list(csv.DictReader(text.splitlines()))


def follows(config: dict, protocol: dict) -> bool:
    """Whether a configuration has every value of a paper's protocol."""
    return all(config.get(k, UNSET) == v for k, v in protocol.items())


def add_paper_values(table: list[dict]) -> list[str]:
    """Adds a `paper` dict of cells (strings, as printed in the papers) to rows whose dataset and protocol
    are the paper's; returns the columns added."""
    added: list[str] = []
    wu = _read_reference("wu2019_table1.csv")
    wu_black_box = _read_reference("wu2019_table2.csv")
    pigan = _read_reference("pigan_table2.csv")
    for row in table:
        cfg, paper = row["full_config"], {}
        strategy = (cfg.get("objective.name"), cfg.get("regularizer.name"))
        if follows(cfg, WU_PROTOCOL):
            for ref in wu:  # Wu et al. Table 1: the same dataset, objective and regularizer
                if (ref["dataset"], ref["objective"], ref["regularizer"]) == (cfg.get("dataset.name"), *strategy):
                    for fig in ("auc", "f1", "gap"):
                        paper[f"paper.{ref['dataset']}.{fig}"] = ref[fig] or "N/A"
            if "logan.auc" in row["figures"]:
                for ref in wu_black_box:  # Wu et al. Table 2: the black-box attack
                    if (ref["dataset"], ref["objective"], ref["regularizer"]) == (cfg.get("dataset.name"), *strategy):
                        for fig in ("auc", "f1"):
                            paper[f"paper.{ref['dataset']}_black_box.{fig}"] = ref[fig]
        if follows(cfg, PIGAN_PROTOCOL):
            for ref in pigan:  # PIGAN Table 2: F-MNIST, lambda = 1, N varied
                if cfg.get("privacy.n_groups") == int(ref["n_groups"]) and cfg.get("privacy.lam") == float(
                    ref["lambda"]
                ):
                    for fig, std in (("wb_pct", "wb_std"), ("tvd", "tvd_std"), ("mc_set_pct", "mc_set_std")):
                        paper[f"paper.{fig}"] = f"{ref[fig]} ± {ref[std]}"
        row["paper"] = paper
        added += list(paper)
    return list(dict.fromkeys(added))
