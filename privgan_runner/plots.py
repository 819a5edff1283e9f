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


def roc_plot(path: Path, attack_scores: dict) -> Path:
    """Log-log ROC (Carlini et al. 2022): the low-FPR regime is where a leak matters."""
    from sklearn.metrics import roc_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    floor = 1.0
    styles = ["-", "--", ":", "-."]
    for i, (name, s) in enumerate(attack_scores.items()):
        fpr, tpr, _ = roc_curve(s.is_member, s.scores)
        n_neg = int((~s.is_member).sum())
        floor = min(floor, 1.0 / max(n_neg, 1))
        ax.plot(np.maximum(fpr, 1.0 / n_neg / 2), np.maximum(tpr, 1e-5), styles[i % 4], label=name)
    grid = np.logspace(np.log10(floor / 2), 0, 50)
    ax.plot(grid, grid, color="grey", lw=0.8, label="chance")
    ax.set(xscale="log", yscale="log", xlabel="false positive rate", ylabel="true positive rate",
           xlim=(floor / 2, 1), ylim=(floor / 2, 1.05), title="membership inference ROC")
    ax.legend(loc="lower right", fontsize=8)
    out = write_figure(path, fig)
    plt.close(fig)
    return out


def score_histogram(path: Path, attack_scores: dict) -> Path:
    plt = _pyplot()
    names = list(attack_scores)
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        s = attack_scores[name]
        bins = np.histogram_bin_edges(s.scores, bins=40)
        ax.hist(s.scores[s.is_member], bins=bins, alpha=0.6, density=True, label="members")
        ax.hist(s.scores[~s.is_member], bins=bins, alpha=0.6, density=True, label="non-members")
        ax.set(title=name, xlabel="score")
        ax.legend(fontsize=8)
    out = write_figure(path, fig)
    plt.close(fig)
    return out


def sample_grid(path: Path, images, nrow: int = 8) -> Path:
    from torchvision.utils import make_grid

    plt = _pyplot()
    grid = make_grid(images, nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1.0)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.axis("off")
    out = write_figure(path, fig)
    plt.close(fig)
    return out
