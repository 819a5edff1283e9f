"""Every attack's figures from (scores, is_member), with scikit-learn and SciPy doing the arithmetic.

- auc, auc_ci: ROC AUC and a 95% percentile-bootstrap interval, stratified: members and non-members are
  resampled separately (their counts are fixed by the split, not drawn), vectorized through
  scipy.stats.bootstrap with AUC as the Mann-Whitney statistic (ties count 1/2)
- f1, balanced_accuracy, precision, recall: at the attack's threshold (score >= threshold -> member)
- tpr_at_1pct_fpr, tpr_at_0p1pct_fpr: the ROC's highest TPR with FPR <= 1% / 0.1% (Carlini et al. 2022),
  over every ROC point (none dropped); `*_ci`: a 95% Clopper-Pearson interval on that TPR as a proportion of
  the members (the side the threshold was not set on). The FPR resolution is 1 / n_nonmembers
  (`fpr_resolution`): below it (fewer than 1,000 non-members for 0.1%) the point is the TPR at FPR = 0,
  and `*_note` says so
- top_m_accuracy: the m = |members| highest-scored records are called members; the member share among them.
  Records tied at the m-th score are drawn at random: the figure is its expectation, so neither record
  order nor tie-breaking moves it (PIGAN's and privGAN's "WB" accuracy, argsort order aside)
- chance: that share for random scores, m / (m + n); AUC's and balanced accuracy's chance is 0.5

A threshold that calls every record a member (or none) decides nothing: F1 and balanced accuracy are then
not reported (null, with the reason), as for an attack without a threshold.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.metrics import balanced_accuracy_score, f1_score, precision_score, recall_score, roc_auc_score, roc_curve

from ..results import Figure

_P = (0.0, 1.0)
#: the figures `membership_figures` gives every attack (higher = a stronger attack, more leakage); which
#: are headline figures each attack says (Attack.headline_figures)
SHARED_FIGURES = (
    Figure("auc", True, False, _P, description="ROC AUC over the attacked records"),
    Figure("auc_ci", True, False, _P, description="95% stratified percentile-bootstrap interval of the AUC"),
    Figure("tpr_at_1pct_fpr", True, False, _P, description="highest TPR at FPR <= 1%"),
    Figure("tpr_at_1pct_fpr_ci", True, False, _P, description="95% Clopper-Pearson interval of that TPR"),
    Figure("tpr_at_0p1pct_fpr", True, False, _P, description="highest TPR at FPR <= 0.1%"),
    Figure("tpr_at_0p1pct_fpr_ci", True, False, _P, description="95% Clopper-Pearson interval of that TPR"),
    Figure("top_m_accuracy", True, False, _P, description="member share among the m top-scored records"),
    Figure("chance", None, False, _P, description="top-m accuracy of random scores, m / (m + n)"),
    Figure("f1", True, False, _P, description="F1 at the attack's threshold"),
    Figure("balanced_accuracy", True, False, _P, description="balanced accuracy at the attack's threshold"),
    Figure("precision", True, False, _P),
    Figure("recall", True, False, _P),
    Figure("threshold", None, False, description="the attack's decision threshold on its score"),
    Figure("n_members", None, False, unit="records"),
    Figure("n_nonmembers", None, False, unit="records"),
    Figure("fpr_resolution", None, False, _P, description="1 / n_nonmembers: the smallest FPR step"),
)


def tpr_at_fpr(is_member: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    # every point: drop_intermediate would drop collinear points of tied segments, the best one under the cap too
    fpr, tpr, _ = roc_curve(is_member, scores, drop_intermediate=False)
    return float(tpr[fpr <= max_fpr].max())


def best_balanced_accuracy(is_member: np.ndarray, scores: np.ndarray) -> float:
    """The highest balanced accuracy of any threshold on `scores` (descriptive: chosen on these records)."""
    fpr, tpr, _ = roc_curve(is_member, scores, drop_intermediate=False)
    return float(((tpr + 1.0 - fpr) / 2).max())


def expected_top_hits(is_member: np.ndarray, scores: np.ndarray, m: int) -> tuple[int, int, int, int]:
    """How the top m records split when ties at the m-th score are drawn at random:
    (members strictly above the m-th score, places left for the tied records, members tied, records tied)."""
    t = np.sort(scores)[::-1][m - 1]
    above = scores > t
    tied = scores == t
    return int(is_member[above].sum()), m - int(above.sum()), int(is_member[tied].sum()), int(tied.sum())


def top_m_accuracy(is_member: np.ndarray, scores: np.ndarray, m: int | None = None) -> float:
    """Member share among the m highest scores (m = |members| by default), expected over random tie-breaking."""
    m = int(is_member.sum()) if m is None else m
    hits, places, tied_members, tied = expected_top_hits(is_member, scores, m)
    return (hits + places * tied_members / tied) / m


def top_m_threshold(scores: np.ndarray, m: int) -> float:
    """The score of the m-th ranked record: calling score >= it a member selects the top m (without ties)."""
    return float(np.sort(scores)[::-1][m - 1])


def auc_statistic(members: np.ndarray, nonmembers: np.ndarray, axis: int = -1) -> np.ndarray:
    """AUC = P(member score > non-member score) + P(tie) / 2 (Mann-Whitney U / mn), along `axis`."""
    m, n = members.shape[axis], nonmembers.shape[axis]
    ranks = stats.rankdata(np.concatenate([members, nonmembers], axis=axis), axis=axis)
    member_ranks = np.take(ranks, np.arange(m), axis=axis).sum(axis=axis)
    return (member_ranks - m * (m + 1) / 2) / (m * n)


def bootstrap_auc_ci(is_member: np.ndarray, scores: np.ndarray, n: int, seed: int = 0, level: float = 0.95):
    """Percentile interval of the AUC over `n` stratified resamples (members and non-members apart)."""
    if n == 0:
        return None
    samples = (scores[is_member], scores[~is_member])
    result = stats.bootstrap(
        samples,
        auc_statistic,
        n_resamples=n,
        vectorized=True,
        paired=False,
        confidence_level=level,
        method="percentile",
        random_state=np.random.default_rng(seed),
        batch=max(1, 4_000_000 // len(scores)),
    )
    return [float(result.confidence_interval.low), float(result.confidence_interval.high)]


def clopper_pearson(hits: int, n: int, level: float = 0.95) -> list[float]:
    """The exact binomial interval for a proportion hits / n."""
    ci = stats.binomtest(hits, n).proportion_ci(confidence_level=level, method="exact")
    return [float(ci.low), float(ci.high)]


def membership_figures(
    scores: np.ndarray,
    is_member: np.ndarray,
    threshold: float | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    auc_ci: list | None = None,
) -> dict:
    """Every shared figure; `auc_ci`, when given, is the interval already bootstrapped for these same scores."""
    scores = np.asarray(scores, dtype=np.float64)
    is_member = np.asarray(is_member, dtype=bool)
    if not np.isfinite(scores).all():
        raise ValueError("attack scores contain NaN or inf")
    m, n = int(is_member.sum()), int((~is_member).sum())
    if m == 0 or n == 0:
        raise ValueError(f"need members and non-members to score an attack (got {m} and {n})")
    out: dict = {
        "auc": float(roc_auc_score(is_member, scores)),
        "auc_ci": auc_ci if auc_ci is not None else bootstrap_auc_ci(is_member, scores, bootstrap, seed),
        "top_m_accuracy": top_m_accuracy(is_member, scores),
        "chance": m / (m + n),
        "n_members": m,
        "n_nonmembers": n,
        "fpr_resolution": 1.0 / n,
    }
    for key, rate in (("tpr_at_1pct_fpr", 0.01), ("tpr_at_0p1pct_fpr", 0.001)):
        out[key] = tpr = tpr_at_fpr(is_member, scores, rate)
        out[f"{key}_ci"] = clopper_pearson(int(round(tpr * m)), m)
        if rate < 1.0 / n:
            out[f"{key}_note"] = f"{rate:g} is below the FPR resolution 1/{n} = {1.0 / n:.2g}: this is the TPR at FPR 0"
    if threshold is None:
        for key in ("f1", "balanced_accuracy", "precision", "recall", "threshold"):
            out[key] = None
            out[f"{key}_reason"] = "this attack sets no decision threshold"
        return out
    predicted = scores >= threshold
    if predicted.all() or not predicted.any():
        reason = (
            f"the threshold {threshold:.4g} calls {'every' if predicted.all() else 'no'} record a member: "
            "it decides nothing"
        )
        for key in ("f1", "balanced_accuracy", "precision", "recall"):
            out[key] = None
            out[f"{key}_reason"] = reason
        out["threshold"] = float(threshold)
        return out
    out.update(
        {
            "threshold": float(threshold),
            "f1": float(f1_score(is_member, predicted)),
            "balanced_accuracy": float(balanced_accuracy_score(is_member, predicted)),
            "precision": float(precision_score(is_member, predicted, zero_division=0)),
            "recall": float(recall_score(is_member, predicted)),
        }
    )
    return out
