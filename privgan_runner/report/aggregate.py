"""Rows of runs -> one row per configuration: mean +- std over seeds, N/A where every run collapsed,
and the paper's value beside ours where the configuration matches a published one."""
from __future__ import annotations

import csv
import math
from importlib import resources

from .collect import CONFIG_KEYS


#: options in the order the papers' tables list them (Wu et al. Table 1); others follow alphabetically
TABLE_ORDER = {
    "objective": ("js", "wasserstein"),
    "regularizer": ("none", "weight_clip", "spectral_norm", "gradient_penalty"),
    "privacy": ("none", "dpsgd", "pigan", "privgan"),
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


def _config(row: dict) -> tuple:
    return tuple(row.get(k) for k in CONFIG_KEYS)


def aggregate(rows: list[dict]) -> tuple[list[dict], list[str]]:
    """Returns (table rows, figure columns). A figure cell is {"mean", "std", "n"} or a string."""
    figures = sorted({k for r in rows for k, v in r.items()
                      if ("." in k or k in ("gen_gap", "fid", "epsilon_spent")) and k != "run"
                      and isinstance(v, (int, float)) and not isinstance(v, bool)})
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(_config(row), []).append(row)
    table = []
    for key, runs in groups.items():
        done = [r for r in runs if r.get("status") == "completed"]
        collapsed = sum(r.get("status") == "collapsed" for r in runs)
        failed = sum(r.get("status") not in ("completed", "collapsed") for r in runs)
        out = dict(zip(CONFIG_KEYS, key))
        out.update(seeds=len(runs), completed=len(done), collapsed=collapsed, failed=failed)
        for name in figures:
            values = [r[name] for r in done if isinstance(r.get(name), (int, float))]
            if values:
                mean = sum(values) / len(values)
                std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
                out[name] = {"mean": mean, "std": std, "n": len(values)}
            elif failed and not done and not collapsed:
                out[name] = "failed" if any(r.get("status") == "failed" for r in runs) else "running"
            elif collapsed and not done:
                out[name] = "N/A"
        table.append(out)
    table.sort(key=lambda r: tuple(_order(r.get(k), k) for k in CONFIG_KEYS))
    return table, figures


def _read_reference(name: str) -> list[dict]:
    text = resources.files("privgan_runner.report").joinpath("reference", name).read_text()
    return list(csv.DictReader(text.splitlines()))


def add_paper_values(table: list[dict]) -> list[str]:
    """Adds `paper.*` cells (strings, as printed in the papers); returns the columns added."""
    added: list[str] = []
    wu = _read_reference("wu2019_table1.csv")
    wu_black_box = _read_reference("wu2019_table2.csv")
    pigan = _read_reference("pigan_table2.csv")
    for row in table:
        if row.get("privacy") in (None, "none"):
            for ref in wu:  # Wu et al. Table 1: same objective and regularizer, on LFW and on IDC
                if (ref["objective"], ref["regularizer"]) == (row.get("objective"), row.get("regularizer")):
                    for fig in ("auc", "f1", "gap"):
                        col = f"paper.{ref['dataset']}.{fig}"
                        row[col] = ref[fig] or "N/A"
                        added.append(col)
        if row.get("privacy") in (None, "none") and "logan.auc" in row:
            for ref in wu_black_box:  # Wu et al. Table 2: the black-box attack on LFW
                if (ref["objective"], ref["regularizer"]) == (row.get("objective"), row.get("regularizer")):
                    for fig in ("auc", "f1"):
                        col = f"paper.lfw_black_box.{fig}"
                        row[col] = ref[fig]
                        added.append(col)
        if row.get("privacy") == "pigan" and row.get("dataset") == "fashion_mnist":
            for ref in pigan:  # PIGAN Table 2: F-MNIST, lambda = 1, N varied
                if row.get("n_groups") == int(ref["n_groups"]) and row.get("lam") == float(ref["lambda"]):
                    for fig, std in (("wb_pct", "wb_std"), ("tvd", "tvd_std"), ("mc_set_pct", "mc_set_std")):
                        col = f"paper.{fig}"
                        row[col] = f"{ref[fig]} ± {ref[std]}"
                        added.append(col)
    return list(dict.fromkeys(added))
