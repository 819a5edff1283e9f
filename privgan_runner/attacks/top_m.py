"""Top-m attack (the PIGAN / privGAN papers' "WB" figure): rank every record by d(x) and call the
m = |members| highest members. Accuracy = member share among them; chance = m / (m + n).
Its threshold is the m-th highest score, so F1 and balanced accuracy describe that same decision.
"""

from __future__ import annotations

from .base import Attack, AttackScores
from .figures import top_m_threshold


class TopM(Attack):
    reads_discriminator = True
    label_free_scores = True  # a record's score reads the model only (an audit may use it)
    headline_figures = ("top_m_accuracy",)  # its ROC is white_box's: the same d(x)

    def scores(self, trained) -> AttackScores:
        idx, is_member = trained.attacked_idx, trained.is_member
        scores = trained.objective.rank(trained.d_outputs(idx)).numpy()  # d(x)'s order, never saturated
        return AttackScores(
            scores=scores, is_member=is_member, record_idx=idx, threshold=top_m_threshold(scores, int(is_member.sum()))
        )
