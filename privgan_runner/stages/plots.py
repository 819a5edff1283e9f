"""The plots stage: plots/roc.png and plots/score_hist.png from the attacks' scores, plots/samples.png from G."""

from __future__ import annotations

from ..run_folder import RunFolder
from .audit import spent_epsilon


def draw_plots(
    folder: RunFolder, attack_scores: dict, trained, privacy_record: dict, parts_attacks=(), train: dict | None = None
) -> None:
    """`train`: training's summary, for what samples.png shows (G after how many epochs, which seed)."""
    from ..plots import roc_plot, sample_grid, score_histogram

    spent, delta = spent_epsilon(privacy_record), privacy_record.get("delta")
    dp = (spent, float(delta)) if spent is not None and isinstance(delta, (int, float)) else None
    if attack_scores:
        if not trained.privacy.releases_discriminator:  # the DP region speaks of G; such curves read a private D
            reads_d = {a.name for a in parts_attacks if a.reads_discriminator}
            attack_scores = {
                (f"{name} (reads D: not released, outside the guarantee)" if name in reads_d else name): s
                for name, s in attack_scores.items()
            }
        roc_plot(folder.plots_dir / "roc.png", attack_scores, dp)
        score_histogram(folder.plots_dir / "score_hist.png", attack_scores)
    train = train or {}
    epochs, steps = train.get("epochs", "?"), train.get("steps", "?")
    title = f"64 samples of G after {epochs} epochs ({steps} steps), seed {trained.seed}"
    sample_grid(folder.plots_dir / "samples.png", trained.sample(64), title=title)
