"""Every attack's figures from (scores, is_member), with scikit-learn doing the arithmetic.

- auc, auc_ci: ROC AUC and a 95% percentile-bootstrap interval over records
- f1, balanced_accuracy, precision, recall: at the attack's threshold (score >= threshold -> member)
- tpr_at_1pct_fpr, tpr_at_0p1pct_fpr: the ROC's highest TPR with FPR <= 1% / 0.1% (Carlini et al. 2022),
  over every ROC point (none dropped); with fewer than 1,000 non-members the 0.1% point is the TPR at FPR = 0
- top_m_accuracy: the m = |members| highest-scored records are called members; the member share among them.
  Records tied at the m-th score are drawn at random: the figure is its expectation, so neither record
  order nor tie-breaking moves it (PIGAN's and privGAN's "WB" accuracy, argsort order aside)
- chance: that share for random scores, m / (m + n); AUC's and balanced accuracy's chance is 0.5

A threshold that calls every record a member (or none) decides nothing: F1 and balanced accuracy are then
not reported (null, with the reason), as for an attack without a threshold.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import balanced_accuracy_score, f1_score, precision_score, recall_score, roc_auc_score, roc_curve


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


def bootstrap_auc_ci(is_member: np.ndarray, scores: np.ndarray, n: int, seed: int = 0, level: float = 0.95):
    if n == 0:
        return None
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n):
        pick = rng.integers(0, len(scores), len(scores))
        y = is_member[pick]
        if y.all() or not y.any():
            continue
        aucs.append(roc_auc_score(y, scores[pick]))
    lo, hi = np.quantile(aucs, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def membership_figures(scores: np.ndarray, is_member: np.ndarray, threshold: float | None = None,
                       bootstrap: int = 1000, seed: int = 0) -> dict:
    scores = np.asarray(scores, dtype=np.float64)
    is_member = np.asarray(is_member, dtype=bool)
    if not np.isfinite(scores).all():
        raise ValueError("attack scores contain NaN or inf")
    m, n = int(is_member.sum()), int((~is_member).sum())
    if m == 0 or n == 0:
        raise ValueError(f"need members and non-members to score an attack (got {m} and {n})")
    out: dict = {
        "auc": float(roc_auc_score(is_member, scores)),
        "auc_ci": bootstrap_auc_ci(is_member, scores, bootstrap, seed),
        "tpr_at_1pct_fpr": tpr_at_fpr(is_member, scores, 0.01),
        "tpr_at_0p1pct_fpr": tpr_at_fpr(is_member, scores, 0.001),
        "top_m_accuracy": top_m_accuracy(is_member, scores),
        "chance": m / (m + n),
        "n_members": m,
        "n_nonmembers": n,
    }
    if threshold is None:
        for key in ("f1", "balanced_accuracy", "precision", "recall", "threshold"):
            out[key] = None
            out[f"{key}_reason"] = "this attack sets no decision threshold"
        return out
    predicted = scores >= threshold
    if predicted.all() or not predicted.any():
        reason = (f"the threshold {threshold:.4g} calls {'every' if predicted.all() else 'no'} record a member: "
                  "it decides nothing")
        for key in ("f1", "balanced_accuracy", "precision", "recall"):
            out[key] = None
            out[f"{key}_reason"] = reason
        out["threshold"] = float(threshold)
        return out
    out.update({
        "threshold": float(threshold),
        "f1": float(f1_score(is_member, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(is_member, predicted)),
        "precision": float(precision_score(is_member, predicted, zero_division=0)),
        "recall": float(recall_score(is_member, predicted)),
    })
    return out
