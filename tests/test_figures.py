"""The shared figures function agrees with scikit-learn and with brute force."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score, roc_curve

from privgan_runner.attacks.figures import membership_figures, top_m_threshold


def _data(seed=0, m=120, n=200, shift=0.7):
    rng = np.random.default_rng(seed)
    is_member = np.r_[np.ones(m, bool), np.zeros(n, bool)]
    scores = rng.normal(size=m + n) + shift * is_member
    return scores, is_member


def test_figures_equal_sklearn():
    scores, is_member = _data()
    t = float(np.median(scores))
    f = membership_figures(scores, is_member, threshold=t, bootstrap=200)
    pred = scores >= t
    assert f["auc"] == pytest.approx(roc_auc_score(is_member, scores))
    assert f["f1"] == pytest.approx(f1_score(is_member, pred))
    assert f["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(is_member, pred))
    assert f["chance"] == pytest.approx(120 / 320)
    lo, hi = f["auc_ci"]
    assert lo < f["auc"] < hi and hi - lo < 0.2


def test_tpr_at_low_fpr_is_brute_force():
    scores, is_member = _data(seed=1, m=500, n=2000)
    f = membership_figures(scores, is_member, bootstrap=0)
    neg = np.sort(scores[~is_member])[::-1]
    for key, rate in (("tpr_at_1pct_fpr", 0.01), ("tpr_at_0p1pct_fpr", 0.001)):
        k = int(np.floor(rate * len(neg)))  # at most k negatives may score at or above the threshold
        t = neg[k] if k < len(neg) else -np.inf  # strictly above the (k+1)-th negative
        assert f[key] == pytest.approx(np.mean(scores[is_member] > t))
    fpr, tpr, _ = roc_curve(is_member, scores)
    assert f["tpr_at_1pct_fpr"] == pytest.approx(tpr[fpr <= 0.01].max())


def test_top_m_accuracy_brute_force():
    scores, is_member = _data(seed=2)
    m = int(is_member.sum())
    f = membership_figures(scores, is_member, threshold=top_m_threshold(scores, m), bootstrap=0)
    top = sorted(range(len(scores)), key=lambda i: -scores[i])[:m]
    assert f["top_m_accuracy"] == pytest.approx(is_member[top].mean())
    # at the m-th score exactly m records are called members, so precision == recall == top-m accuracy
    assert f["precision"] == pytest.approx(f["top_m_accuracy"])
    assert f["recall"] == pytest.approx(f["top_m_accuracy"])


def test_random_scores_are_at_chance():
    rng = np.random.default_rng(3)
    is_member = rng.random(4000) < 0.1
    f = membership_figures(rng.normal(size=4000), is_member, bootstrap=0)
    assert abs(f["auc"] - 0.5) < 0.05
    assert abs(f["top_m_accuracy"] - f["chance"]) < 0.05


def test_no_threshold_gives_null_with_reason():
    scores, is_member = _data()
    f = membership_figures(scores, is_member, bootstrap=0)
    assert f["f1"] is None and "threshold" in f["f1_reason"]


def test_bad_scores_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        membership_figures(np.array([0.1, np.nan]), np.array([True, False]))
    with pytest.raises(ValueError, match="members and non-members"):
        membership_figures(np.array([0.1, 0.2]), np.array([True, True]))


def test_total_variation_brute_force():
    from privgan_runner.attacks.tvd import total_variation

    a, b = np.array([0.0, 0.1, 0.9, 1.0]), np.array([0.05, 0.95, 0.96, 0.97])
    # 2 bins over [0, 1]: a = (2, 2) / 4, b = (1, 3) / 4 -> TVD = 0.5 * (0.25 + 0.25)
    assert total_variation(a, b, bins=2) == pytest.approx(0.25)
    assert total_variation(a, a, bins=50) == 0.0
    assert total_variation(np.zeros(5), np.ones(5), bins=10) == pytest.approx(1.0)
