"""Report plots: a figure against the swept knob (PIGAN Fig. 1-2 style), ROC overlays, score histograms."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import write_figure
from ..plots import _pyplot

CURVE_FIGURES = ("white_box.auc", "top_m.top_m_accuracy", "tvd.tvd", "monte_carlo.mc_set_accuracy", "gen_gap")
KNOB_LABELS = {"privacy.lam": "lambda", "privacy.epsilon": "epsilon (target)", "privacy.n_groups": "N"}


def swept_knob(table: list[dict], columns: list[str]) -> str | None:
    """The knob the sweep varies (lambda, epsilon, N, epochs, ...), if exactly one numeric key varies."""
    numeric = [k for k in columns
               if all(isinstance(r["config"].get(k), (int, float)) and not isinstance(r["config"].get(k), bool)
                      for r in table)]
    return numeric[0] if len(numeric) == 1 and len(columns) == 1 else None


def curves(path: Path, table: list[dict], knob: str) -> Path | None:
    names = [f for f in CURVE_FIGURES if any(isinstance(r["figures"].get(f), dict) for r in table)]
    if not names:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        pts = sorted((r["config"][knob], r["figures"][name]["mean"], r["figures"][name]["std"]) for r in table
                     if isinstance(r["figures"].get(name), dict))
        if pts:
            x, y, e = map(np.array, zip(*pts))
            ax.errorbar(x, y, yerr=e, marker="o", capsize=3)
        ax.set(xlabel=KNOB_LABELS.get(knob, knob), title=name)
        if knob == "privacy.epsilon":
            ax.set_xscale("log")
    out = write_figure(path, fig)
    plt.close(fig)
    return out


def roc_overlay(path: Path, runs_by_label: dict[str, Path], attack: str = "white_box") -> Path | None:
    from sklearn.metrics import roc_curve

    curves_found = {}
    for label, run in runs_by_label.items():
        f = run / "scores" / f"{attack}.npz"
        if f.is_file():
            with np.load(f) as s:
                curves_found[label] = roc_curve(s["is_member"], s["scores"])[:2]
    if not curves_found:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    floor = 1e-4
    for label, (fpr, tpr) in curves_found.items():
        ax.plot(np.maximum(fpr, floor), np.maximum(tpr, floor), label=label)
    ax.plot([floor, 1], [floor, 1], color="grey", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="false positive rate", ylabel="true positive rate",
           title=f"{attack} ROC", xlim=(floor, 1), ylim=(floor, 1.05))
    ax.legend(fontsize=7)
    out = write_figure(path, fig)
    plt.close(fig)
    return out


def histograms(path: Path, runs_by_label: dict[str, Path], attack: str = "white_box") -> Path | None:
    found = {label: run / "scores" / f"{attack}.npz" for label, run in runs_by_label.items()}
    found = {k: v for k, v in found.items() if v.is_file()}
    if not found:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(found), figsize=(3.4 * len(found), 3), squeeze=False)
    for ax, (label, f) in zip(axes[0], found.items()):
        with np.load(f) as s:
            scores, member = s["scores"], s["is_member"].astype(bool)
        bins = np.histogram_bin_edges(scores, bins=40)
        ax.hist(scores[member], bins=bins, alpha=0.6, density=True, label="members")
        ax.hist(scores[~member], bins=bins, alpha=0.6, density=True, label="non-members")
        ax.set(title=label, xlabel="score")
        ax.legend(fontsize=7)
    out = write_figure(path, fig)
    plt.close(fig)
    return out
