"""Total variation distance attack (privGAN, Mukherjee et al.; PIGAN Sec. 4.1).

For each view of D (each membership code c for PIGAN, each discriminator for PrivGAN, D itself
otherwise) the scores d(x) of members and of non-members are binned into `bins` equal bins over
their common range, and TVD = 1/2 * sum |p_members - p_nonmembers| of the bin frequencies. The
reported `tvd` is the max over views; any attack that thresholds that view's score has balanced
accuracy at most (1 + TVD) / 2 (`balanced_accuracy_bound`). The scores kept for the ROC figures are
those of the max-TVD view.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Attack, AttackScores
from .figures import top_m_threshold


def total_variation(a: np.ndarray, b: np.ndarray, bins: int) -> float:
    lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    pa = np.histogram(a, bins=edges)[0] / len(a)
    pb = np.histogram(b, bins=edges)[0] / len(b)
    return 0.5 * float(np.abs(pa - pb).sum())


class TVD(Attack):
    def __init__(self, bins: int = 50, bootstrap: int = 1000):
        super().__init__(bootstrap)
        if not isinstance(bins, int) or bins < 2:
            raise ConfigError("bins", f"must be an integer >= 2, got {bins!r}")
        self.bins = bins

    def scores(self, trained) -> AttackScores:
        idx, is_member = trained.attacked_idx, trained.is_member
        views = trained.objective.score(trained.d_views(idx)).double().numpy()
        per_view = [total_variation(v[is_member], v[~is_member], self.bins) for v in views.T]
        best = int(np.argmax(per_view))
        scores = views[:, best]
        tvd = per_view[best]
        return AttackScores(scores=scores, is_member=is_member, record_idx=idx,
                            threshold=top_m_threshold(scores, int(is_member.sum())),
                            extra={"tvd": tvd, "tvd_per_view": per_view, "tvd_view": best,
                                   "balanced_accuracy_bound": 0.5 * (1.0 + tvd), "bins": self.bins})
