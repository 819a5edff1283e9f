"""White-box attack of Wu et al. 2019 (Sec. 4.1): score = d(x), the discriminator's judgement.

For the JS objective d(x) = sigmoid(logit), bounded by b = 1; for a Wasserstein critic its raw
output. The attacker's threshold is the mean score over the members (the paper assumes the
attacker knows it); F1 is reported at that threshold.
"""
from __future__ import annotations

from .base import Attack, AttackScores


class WhiteBox(Attack):
    def scores(self, trained) -> AttackScores:
        idx, is_member = trained.attacked_idx, trained.is_member
        scores = trained.objective.score(trained.d_outputs(idx)).double().numpy()
        return AttackScores(scores=scores, is_member=is_member, record_idx=idx,
                            threshold=float(scores[is_member].mean()))
