"""White-box attack of Wu et al. 2019 (Sec. 4.1): score = d(x), the discriminator's judgement.

For the JS objective d(x) = sigmoid(logit), bounded by b = 1; for a Wasserstein critic its raw
output. Records are ranked on the logit (the objective's `rank`), which orders them as d(x) does but
never saturates: in float32 every logit >= 17 gives d(x) = 1 exactly, which tied the most memorized
records. The attacker's threshold is the mean d(x) over the members (the paper assumes the attacker
knows it), moved onto the logit scale; F1 is reported at that threshold. With several views of D
(PIGAN's codes, PrivGAN's discriminators) the score is the max over views; `mean_over_views` reports
the same attack on the mean d(x) (privGAN's second variant).
"""

from __future__ import annotations

from ..results import Figure
from .base import Attack, AttackScores
from .figures import membership_figures


class WhiteBox(Attack):
    reads_discriminator = True
    label_free_scores = True  # a record's score reads the model only (an audit may use it)
    headline_figures = Attack.headline_figures + ("f1",)  # Wu et al. report AUC and F1
    figures = (Figure("mean_over_views.auc", True, False, (0.0, 1.0), description="the same on the mean over views"),)

    def scores(self, trained) -> AttackScores:
        idx, is_member = trained.attacked_idx, trained.is_member
        objective, outputs = trained.objective, trained.d_views(idx)
        d = objective.score(outputs).numpy()  # d(x), per view
        scores = objective.rank(outputs).numpy().max(1)  # ranked without d(x)'s saturation: no ties at d(x) = 1
        extra = {}
        if d.shape[1] > 1:
            mean = d.mean(1)
            fig = membership_figures(mean, is_member, float(mean[is_member].mean()), bootstrap=0)
            extra["mean_over_views"] = {k: fig[k] for k in ("auc", "f1", "balanced_accuracy", "top_m_accuracy")}
        # Wu's threshold, the members' mean d(x), on the ranking scale: the same decisions
        threshold = objective.rank_of_score(float(d.max(1)[is_member].mean()))
        return AttackScores(scores=scores, is_member=is_member, record_idx=idx, threshold=threshold, extra=extra)
