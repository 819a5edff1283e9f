"""Total variation distance attack (privGAN, Mukherjee et al.; PIGAN Sec. 4.1).

For each view of D (each membership code c for PIGAN, each discriminator for PrivGAN, D itself
otherwise) the scores d(x) of members and of non-members are binned into `bins` (50) equal bins, and
TVD = 1/2 * sum |p_members - p_nonmembers| of the bin frequencies, as privGAN's `WBattack_TVD` computes
it: np.histogram(..., bins=50, range=[0, 1]) of the discriminator's probability d(x). For a JS
objective d(x) = sigmoid(logit) lies in [0, 1], which is the range used. A Wasserstein critic's score is
unbounded and privGAN defines no range for it: the bins then span the common range of both sets' scores
(`tvd_range` says which was used). The reported `tvd` is the max over views (`WBattack_TVD_priv`).

Binned TVD is biased upwards on finite samples: two samples of one distribution rarely fill 50 bins
alike (with 100 members, about 0.2). So the attack also reports `tvd_chance`, the mean max-over-views TVD
when the member labels are permuted (`permutations`, 100), and `tvd_p_value`, the share of permutations
reaching the observed TVD ((1 + count) / (1 + permutations)): read `tvd` against `tvd_chance`.

Binned TVD is no bound on what a threshold achieves (a 0.001 TVD can hide a threshold at balanced
accuracy 0.999 inside one bin), so beside it the attack reports `best_balanced_accuracy`: the exact best
balanced accuracy of any threshold on the max-TVD view's scores, from its ROC. Both choose (the view, the
threshold) on the records they score: descriptive figures, not a held-out attack.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..results import Figure
from ..seeds import derive
from .base import Attack, AttackScores
from .figures import best_balanced_accuracy, top_m_threshold


def total_variation(a: np.ndarray, b: np.ndarray, bins: int, score_range: tuple[float, float] | None = None) -> float:
    """Binned TVD of two score samples over `score_range` (default: their common range)."""
    if score_range is None:
        lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
        score_range = (lo, hi if hi > lo else lo + 1.0)
    edges = np.linspace(score_range[0], score_range[1], bins + 1)
    pa = np.histogram(a, bins=edges)[0] / len(a)
    pb = np.histogram(b, bins=edges)[0] / len(b)
    return 0.5 * float(np.abs(pa - pb).sum())


class TVD(Attack):
    reads_discriminator = True
    headline_figures = ()  # its ROC figures are those of the view it picked: descriptive
    figures = (
        Figure("tvd", True, True, (0.0, 1.0), description="binned TVD of member vs non-member scores, max over views"),
        Figure("tvd_chance", None, True, (0.0, 1.0), description="mean TVD with the member labels permuted"),
        Figure("tvd_p_value", None, False, (0.0, 1.0), description="permutation p-value of the observed TVD"),
        Figure("best_balanced_accuracy", True, False, (0.5, 1.0), description="descriptive: best threshold's"),
    )

    def __init__(self, bins: int = 50, permutations: int = 100, bootstrap: int = 1000):
        super().__init__(bootstrap)
        if not isinstance(bins, int) or bins < 2:
            raise ConfigError("bins", f"must be an integer >= 2, got {bins!r}")
        if not isinstance(permutations, int) or permutations < 1:
            raise ConfigError("permutations", f"must be a positive integer, got {permutations!r}")
        self.bins, self.permutations = bins, permutations

    def _max_tvd(self, views: np.ndarray, is_member: np.ndarray, score_range) -> float:
        return max(total_variation(v[is_member], v[~is_member], self.bins, score_range) for v in views.T)

    def scores(self, trained) -> AttackScores:
        idx, is_member = trained.attacked_idx, trained.is_member
        views = trained.objective.score(trained.d_views(idx)).double().numpy()
        score_range = trained.objective.score_range
        per_view = [total_variation(v[is_member], v[~is_member], self.bins, score_range) for v in views.T]
        best = int(np.argmax(per_view))
        rng = np.random.default_rng(derive(trained.seed, "tvd_permutations"))
        null = np.array(
            [self._max_tvd(views, rng.permutation(is_member), score_range) for _ in range(self.permutations)]
        )
        scores = views[:, best]
        range_text = (
            f"[{score_range[0]:g}, {score_range[1]:g}] (the score's range)"
            if score_range
            else "the common range of the member and non-member scores (unbounded critic)"
        )
        return AttackScores(
            scores=scores,
            is_member=is_member,
            record_idx=idx,
            threshold=top_m_threshold(scores, int(is_member.sum())),
            extra={
                "tvd": per_view[best],
                "tvd_chance": float(null.mean()),
                "tvd_p_value": float((1 + (null >= per_view[best]).sum()) / (1 + self.permutations)),
                "permutations": self.permutations,
                "tvd_per_view": per_view,
                "tvd_view": best,
                "bins": self.bins,
                "tvd_range": range_text,
                "best_balanced_accuracy": best_balanced_accuracy(is_member, scores),
                "best_balanced_accuracy_note": "descriptive: the best threshold on the scored records themselves",
            },
        )
