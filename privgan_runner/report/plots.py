"""Report plots: a figure against the swept knob (PIGAN Fig. 1-2 style), ROC overlays, score histograms."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import write_figure
from ..plots import _pyplot

SWEPT = ("lam", "epsilon_target", "n_groups")
CURVE_FIGURES = ("white_box.auc", "top_m.top_m_accuracy", "tvd.tvd", "monte_carlo.mc_set_accuracy", "gen_gap")


def swept_knob(table: list[dict]) -> str | None:
    """The knob the sweep varies (lambda, epsilon or N), if exactly one does."""
    varying = [k for k in SWEPT if len({r.get(k) for r in table if r.get(k) is not None}) > 1]
    return varying[0] if len(varying) == 1 else None


def curves(path: Path, table: list[dict], knob: str) -> Path | None:
    names = [f for f in CURVE_FIGURES if any(isinstance(r.get(f), dict) for r in table)]
    if not names:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        pts = sorted((r[knob], r[name]["mean"], r[name]["std"]) for r in table
                     if r.get(knob) is not None and isinstance(r.get(name), dict))
        if pts:
            x, y, e = map(np.array, zip(*pts))
            ax.errorbar(x, y, yerr=e, marker="o", capsize=3)
        ax.set(xlabel={"lam": "lambda", "epsilon_target": "epsilon", "n_groups": "N"}[knob], title=name)
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
