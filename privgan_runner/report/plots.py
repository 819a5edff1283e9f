"""Report plots: a figure against the swept knob (PIGAN Fig. 1-2 style), the configurations of a categorical
sweep side by side, ROC overlays, score histograms. Panels are titled from the runs' own figure descriptions;
error bars are the standard deviation over seeds, and say so."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from ..io import write_figure
from ..plots import _pyplot, histogram_panels, log_roc

KNOB_LABELS = {"privacy.lam": "lambda", "privacy.epsilon": "epsilon (target)", "privacy.n_groups": "N"}


def figure_title(name: str, described: dict) -> str:
    """'white_box.auc' -> 'white_box: ROC AUC over the attacked records', wrapped (the run's own description)."""
    source, _, short = name.rpartition(".")
    text = (described.get(name) or {}).get("description") or short
    lines = textwrap.wrap(f"{source}: {text}" if source else text, 40)
    return "\n".join(lines[:2]) + (" ..." if len(lines) > 2 else "")  # two lines: the panel stays readable


def chance_level(table: list[dict], name: str) -> float | None:
    """Where `name` sits when nothing leaks: 0.5 for an AUC, else the run's own `<name>_chance` figure."""
    if name.rpartition(".")[2] == "auc":
        return 0.5
    means = [
        r["figures"][f"{name}_chance"]["mean"] for r in table if isinstance(r["figures"].get(f"{name}_chance"), dict)
    ]
    return float(np.mean(means)) if means else None


def _seeds_note(table: list[dict]) -> str:
    counts = sorted({int(r.get("seeds") or 0) for r in table})
    seeds = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    plural = "" if seeds == "1" else "s"
    return f"dots: mean over seeds; bars: std over seeds ({seeds} seed{plural} per configuration)"


def _drawable(table: list[dict], figures: list[str]) -> list[str]:
    audits = {name for name, _, _ in AUDIT_LINES}
    return [
        f
        for f in figures
        if f not in audits and not f.endswith("_chance") and any(isinstance(r["figures"].get(f), dict) for r in table)
    ][:8]


def _panels(plt, n: int, width: float = 3.8, height: float = 3.3, margin: float = 0.0, sharey: bool = False):
    """Up to 4 panels a row, each width x height inches (plus `margin` inches on the left for labels)."""
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(width * cols + margin, height * rows + 0.4), sharey=sharey, squeeze=False
    )
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, axes


def comparison(path: Path, table: list[dict], labels: list[str], figures: list[str], described: dict) -> Path | None:
    """A categorical sweep (regularizer=none,spectral_norm): each figure's mean ± std over seeds for every
    configuration, one row each (the configurations on the y axis, so long labels and many configurations stay
    readable), with the no-leak level where it is known."""
    names = _drawable(table, figures)
    if not names or len(table) < 2:
        return None
    plt = _pyplot()
    # a panel's height has room for every configuration's row; the labels' width is added once, on the left
    fig, axes = _panels(
        plt, len(names), width=3.4, height=0.8 + 0.26 * len(table), margin=0.06 * max(map(len, labels)), sharey=True
    )
    y = np.arange(len(table))
    for ax, name in zip(axes.flat, names):
        x = [r["figures"][name]["mean"] if isinstance(r["figures"].get(name), dict) else np.nan for r in table]
        e = [r["figures"][name]["std"] if isinstance(r["figures"].get(name), dict) else 0.0 for r in table]
        ax.errorbar(x, y, xerr=e, fmt="o", capsize=3, markersize=4)
        chance = chance_level(table, name)
        if chance is not None:
            ax.axvline(chance, color="grey", lw=0.8, ls="--", label="no leak")
            ax.legend(fontsize=7, frameon=False)
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_ylim(len(table) - 0.5, -0.5)  # the first configuration on top, as in the report's table
        ax.set_xlabel(name.rpartition(".")[2], fontsize=8)
        ax.set_title(figure_title(name, described), fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle(_seeds_note(table), fontsize=9)
    fig.tight_layout()
    out = write_figure(path, fig)
    plt.close(fig)
    return out


def swept_knob(table: list[dict], columns: list[str]) -> str | None:
    """The knob the sweep varies (lambda, epsilon, N, epochs, ...), if exactly one numeric key varies."""
    numeric = [
        k
        for k in columns
        if all(isinstance(r["config"].get(k), (int, float)) and not isinstance(r["config"].get(k), bool) for r in table)
    ]
    return numeric[0] if len(numeric) == 1 and len(columns) == 1 else None


#: the audits' epsilon figures, drawn together by `audit_bounds`: (figure, label, style)
AUDIT_LINES = (
    ("audit.gradient.epsilon_lb_claimed_form", "white box, claimed form (f-DP)", "o-"),
    ("audit.gradient.ceiling_epsilon_lb_claimed_form", "  its idealized ceiling", "o:"),
    ("audit.gradient.epsilon_lb", "white box (Steinke et al.)", "s-"),
    ("audit.gradient.ceiling_epsilon_lb", "  its idealized ceiling", "s:"),
    ("audit.one_run.epsilon_lb", "final G, input canaries", "^-"),
)


def _points(table: list[dict], knob: str, name: str):
    return sorted(
        (r["config"][knob], r["figures"][name]["mean"], r["figures"][name]["std"])
        for r in table
        if isinstance(r["figures"].get(name), dict)
    )


def audit_bounds(path: Path, table: list[dict], knob: str) -> Path | None:
    """Every audit's epsilon lower bound against the swept knob, beside the idealized ceilings and the accountant's
    epsilon (an upper bound): one chart, so a bound's gap to the claim and to the ideal reads at a glance."""
    drawn = [(name, label, style) for name, label, style in AUDIT_LINES if _points(table, knob, name)]
    spent = _points(table, knob, "epsilon_spent")
    if not drawn or not spent:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    colors = {}
    for name, label, style in drawn:
        x, y, e = map(np.array, zip(*_points(table, knob, name)))
        family = name.replace("ceiling_", "")  # a bound and its ceiling share a colour
        line = ax.errorbar(x, y, yerr=e, fmt=style, capsize=3, label=label, color=colors.get(family))
        colors.setdefault(family, line[0].get_color())
    x, y, _ = map(np.array, zip(*spent))
    ax.plot(x, y, "--", color="grey", label="accountant's epsilon (upper bound)")
    ax.set(xlabel=KNOB_LABELS.get(knob, knob), ylabel="epsilon", title="Empirical lower bounds vs the claim")
    if knob == "privacy.epsilon":
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=0.1)
    ax.set_ylim(bottom=0)  # bounds are never negative
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = write_figure(path, fig)
    plt.close(fig)
    return out


def curves(path: Path, table: list[dict], knob: str, figures: list[str], described: dict | None = None) -> Path | None:
    """Each of `figures` (the headline ones but the audits', drawn by `audit_bounds`) against the swept knob,
    mean ± std over seeds, with the no-leak level where it is known."""
    names = _drawable(table, figures)
    if not names:
        return None
    plt = _pyplot()
    fig, axes = _panels(plt, len(names))
    for ax, name in zip(axes.flat, names):
        pts = _points(table, knob, name)
        if pts:
            x, y, e = map(np.array, zip(*pts))
            label = "empirical lower bound" if "epsilon_lb" in name else None
            ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=label)
        spent = [(x, y) for x, y, _ in _points(table, knob, "epsilon_spent")]
        if "epsilon_lb" in name and spent:  # a lower bound is read against the accountant's upper bound
            ax.plot(*zip(*spent), "--", color="grey", label="accountant's epsilon")
        chance = chance_level(table, name)
        if chance is not None:
            ax.axhline(chance, color="grey", lw=0.8, ls="--", label="no leak")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, frameon=False)
        ax.set(xlabel=KNOB_LABELS.get(knob, knob), ylabel=name.rpartition(".")[2])
        ax.set_title(figure_title(name, described or {}), fontsize=9)
        ax.grid(alpha=0.3)
        if knob == "privacy.epsilon":
            ax.set_xscale("log")
    fig.suptitle(_seeds_note(table), fontsize=9)
    fig.tight_layout()
    out = write_figure(path, fig)
    plt.close(fig)
    return out


def _saved_scores(runs_by_label: dict[str, Path], attack: str) -> dict:
    found = {}
    for label, run in runs_by_label.items():
        f = run / "scores" / f"{attack}.npz"
        if f.is_file():
            with np.load(f) as s:
                found[label] = (s["is_member"].astype(bool), s["scores"])
    return found


def roc_overlay(path: Path, runs_by_label: dict[str, Path], attack: str = "white_box") -> Path | None:
    curves_found = _saved_scores(runs_by_label, attack)
    if not curves_found:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    n_neg = min(int((~m).sum()) for m, _ in curves_found.values())
    log_roc(ax, curves_found, 0.5 / max(n_neg, 1))
    ax.set_title(f"{attack} ROC, one run per configuration")
    out = write_figure(path, fig)
    plt.close(fig)
    return out


def histograms(path: Path, runs_by_label: dict[str, Path], attack: str = "white_box") -> Path | None:
    found = _saved_scores(runs_by_label, attack)
    if not found:
        return None
    plt = _pyplot()
    fig = histogram_panels(plt, found, xlabel=f"{attack} score")
    out = write_figure(path, fig)
    plt.close(fig)
    return out
