"""The run folder's plots: ROC of every attack on log-log axes, score histograms, a sample grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import write_figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def log_roc(ax, curves: dict, floor: float) -> None:
    """Log-log ROC curves {label: (is_member, scores)} with their AUC in the legend, placed beside the axes;
    FPR below `floor` (half the resolution 1/n) is drawn at the floor."""
    from sklearn.metrics import roc_auc_score, roc_curve

    styles = ["-", "--", ":", "-."]
    for i, (label, (is_member, scores)) in enumerate(curves.items()):
        fpr, tpr, _ = roc_curve(is_member, scores, drop_intermediate=False)
        auc = roc_auc_score(is_member, scores)
        ax.plot(np.maximum(fpr, floor), np.maximum(tpr, floor), styles[i % 4], label=f"{label} (AUC {auc:.3f})")
    grid = np.logspace(np.log10(floor), 0, 50)
    ax.plot(grid, grid, color="grey", lw=0.8, label="chance")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="false positive rate",
        ylabel="true positive rate",
        xlim=(floor, 1),
        ylim=(floor, 1.05),
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)


def dp_tpr_limit(fpr: np.ndarray, epsilon: float, delta: float) -> np.ndarray:
    """The highest TPR any membership test can reach at `fpr` against an (ε, δ)-DP mechanism
    (Kairouz et al. 2015: TPR <= e^ε FPR + δ and 1 - TPR >= e^-ε (1 - δ - FPR))."""
    return np.minimum(1.0, np.minimum(np.exp(epsilon) * fpr + delta, 1 - np.exp(-epsilon) * (1 - delta - fpr)))


def merged_identical(curves: dict) -> dict:
    """{label: (is_member, scores)} with attacks whose scores are identical drawn once, labelled together
    ("white_box = top_m": both rank d(x))."""
    out: dict = {}
    for label, (is_member, scores) in curves.items():
        twin = next(
            (k for k, (m, v) in out.items() if np.array_equal(m, is_member) and np.array_equal(v, scores)), None
        )
        if twin is None:
            out[label] = (is_member, scores)
        else:
            out[f"{twin} = {label}"] = out.pop(twin)
    return out


def roc_plot(path: Path, attack_scores: dict, dp: tuple[float, float] | None = None) -> Path:
    """Log-log ROC (Carlini et al. 2022): the low-FPR regime is where a leak matters. With `dp` = (ε, δ),
    the region an (ε, δ)-DP mechanism allows is shaded: a curve above it would contradict the guarantee
    (beyond sampling error)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    n_neg = min(int((~s.is_member).sum()) for s in attack_scores.values())
    floor = 0.5 / max(n_neg, 1)
    if dp is not None:
        grid = np.logspace(np.log10(floor), 0, 200)
        limit = dp_tpr_limit(grid, *dp)
        ax.fill_between(grid, floor, np.maximum(limit, floor), color="tab:green", alpha=0.12, lw=0)
        ax.plot(grid, np.maximum(limit, floor), color="tab:green", lw=0.8, label=f"({dp[0]:.3g}, {dp[1]:.0e})-DP limit")
    log_roc(ax, merged_identical({name: (s.is_member, s.scores) for name, s in attack_scores.items()}), floor)
    ax.set_title("membership inference ROC")
    out = write_figure(path, fig)
    plt.close(fig)
    return out


def histogram_panels(plt, panels: dict, xlabel: str = "score"):
    """One panel per {title: (is_member, scores)}: member and non-member densities, in rows of at most 4."""
    import textwrap

    n = len(panels)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    for ax, (title, (is_member, scores)) in zip(axes.flat, panels.items()):
        bins = np.histogram_bin_edges(scores, bins=40)
        ax.hist(scores[is_member], bins=bins, alpha=0.6, density=True, label="members")
        ax.hist(scores[~is_member], bins=bins, alpha=0.6, density=True, label="non-members")
        ax.set_title("\n".join(textwrap.wrap(title, 32)), fontsize=9)
        ax.set(xlabel=xlabel, ylabel="density")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def score_histogram(path: Path, attack_scores: dict) -> Path:
    plt = _pyplot()
    fig = histogram_panels(plt, merged_identical({name: (s.is_member, s.scores) for name, s in attack_scores.items()}))
    out = write_figure(path, fig)
    plt.close(fig)
    return out


def sample_grid(path: Path, images, nrow: int = 8, title: str | None = None) -> Path:
    """`images` ([-1, 1]) as a grid; `title`: what they are (the run's epochs and seed, say)."""
    from torchvision.utils import make_grid

    plt = _pyplot()
    grid = make_grid(images, nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1.0)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    out = write_figure(path, fig)
    plt.close(fig)
    return out
