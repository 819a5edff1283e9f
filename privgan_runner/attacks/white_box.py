"""White-box attack of Wu et al. 2019 (Sec. 4.1): score = d(x), the discriminator's judgement.

For the JS objective d(x) = sigmoid(logit), bounded by b = 1; for a Wasserstein critic its raw
output. The attacker's threshold is the mean score over the members (the paper assumes the
attacker knows it); F1 is reported at that threshold. With several views of D (PIGAN's codes,
PrivGAN's discriminators) the score is the max over views; `mean_over_views` reports the same
attack on the mean score (privGAN's second variant).
"""

from __future__ import annotations

from ..results import Figure
from .base import Attack, AttackScores
from .figures import membership_figures


class WhiteBox(Attack):
    label_free_scores = True  # a record's score reads the model only (an audit may use it)
    headline_figures = Attack.headline_figures + ("f1",)  # Wu et al. report AUC and F1
    figures = (Figure("mean_over_views.auc", True, False, (0.0, 1.0), description="the same on the mean over views"),)

    def scores(self, trained) -> AttackScores:
        idx, is_member = trained.attacked_idx, trained.is_member
        views = trained.objective.score(trained.d_views(idx)).double().numpy()
        scores = views.max(1)
        extra = {}
        if views.shape[1] > 1:
            mean = views.mean(1)
            fig = membership_figures(mean, is_member, float(mean[is_member].mean()), bootstrap=0)
            extra["mean_over_views"] = {k: fig[k] for k in ("auc", "f1", "balanced_accuracy", "top_m_accuracy")}
        return AttackScores(
            scores=scores, is_member=is_member, record_idx=idx, threshold=float(scores[is_member].mean()), extra=extra
        )
