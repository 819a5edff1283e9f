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


def test_total_variation_bins_scores_on_zero_one_as_privgan_does():
    """privGAN's WBattack_TVD: np.histogram(d(x), bins=50, density=True, range=[0, 1]), 0.5 * L1 / 50."""
    from privgan_runner.attacks.tvd import total_variation
    from privgan_runner.objectives.js import JS

    rng = np.random.default_rng(0)
    a, b = rng.beta(5, 2, 300), rng.beta(2, 2, 500)
    n1, _ = np.histogram(a, bins=50, density=True, range=[0, 1])
    n2, _ = np.histogram(b, bins=50, density=True, range=[0, 1])
    assert total_variation(a, b, 50, JS().score_range) == pytest.approx(0.5 * np.abs(n1 - n2).sum() / 50)
    # two sets inside one bin of [0, 1] are not told apart (their own range would split them)
    assert total_variation(np.array([0.001, 0.002]), np.array([0.003, 0.004]), 50, (0.0, 1.0)) == 0.0


def test_best_balanced_accuracy_is_exact_where_binned_tvd_sees_nothing():
    from privgan_runner.attacks.figures import best_balanced_accuracy
    from privgan_runner.attacks.tvd import total_variation

    rng = np.random.default_rng(1)
    members, non = 0.5005 + 0.0004 * rng.random(1000), 0.5000 + 0.0004 * rng.random(1000)
    scores, is_member = np.r_[members, non], np.r_[np.ones(1000, bool), np.zeros(1000, bool)]
    assert total_variation(members, non, 50, (0.0, 1.0)) == 0.0
    assert best_balanced_accuracy(is_member, scores) == 1.0


@pytest.mark.parametrize("members_first", [True, False])
def test_ties_never_count_for_members(members_first):
    """All scores tied: top-m accuracy is chance whatever the order the records are listed in."""
    m, n = 30, 70
    is_member = np.r_[np.ones(m, bool), np.zeros(n, bool)]
    if not members_first:
        is_member = is_member[::-1].copy()
    f = membership_figures(np.zeros(m + n), is_member, bootstrap=0)
    assert f["top_m_accuracy"] == pytest.approx(m / (m + n))
    # a partial tie: 10 members clearly on top, then 40 records (10 members) tied for the last 20 places
    scores = np.r_[np.full(10, 2.0), np.full(10, 1.0), np.zeros(20), np.full(30, 1.0), -np.ones(40)]
    is_member = np.r_[np.ones(30, bool), np.zeros(70, bool)]
    for order in (np.arange(100), np.arange(100)[::-1], np.random.default_rng(2).permutation(100)):
        assert membership_figures(scores[order], is_member[order], bootstrap=0)["top_m_accuracy"] == pytest.approx(
            (10 + 20 * 10 / 40) / 30
        )


def test_monte_carlo_figures_are_expectations_over_tie_breaking():
    from scipy.stats import hypergeom

    from privgan_runner.attacks.monte_carlo import at_least_half_chance, top_m_expectations

    m = 10
    is_member = np.r_[np.ones(m, bool), np.zeros(m, bool)]
    single, majority, at_least_half = top_m_expectations(is_member, np.zeros(2 * m), m)  # every share is 0: all tied
    assert single == pytest.approx(0.5)
    k = np.arange(m + 1)
    p = hypergeom.pmf(k, 2 * m, m, m)
    assert majority == pytest.approx(p[2 * k > m].sum() + 0.5 * p[2 * k == m].sum()) and majority == pytest.approx(0.5)
    # privGAN's code counts an exact half as a success: chance above 0.5 (0.556 at m = 100)
    assert at_least_half == pytest.approx(p[2 * k >= m].sum()) and at_least_half > 0.5
    assert at_least_half_chance(m) == pytest.approx(at_least_half)
    assert at_least_half_chance(100) == pytest.approx(0.556, abs=1e-3)
    scores = np.r_[np.ones(3), np.zeros(7), np.zeros(10)]  # 3 members clear, 7 places among 17 tied (7 members)
    single, _, _ = top_m_expectations(is_member, scores, m)
    assert single == pytest.approx((3 + 7 * 7 / 17) / m)


def test_tpr_at_low_fpr_keeps_every_roc_point_of_a_tied_segment():
    """Collinear ROC points (0, .2), (.006, .3), (.012, .4), equally spaced (scikit-learn's drop_intermediate
    drops the middle one): the best point under FPR 1% is (.006, .3)."""
    is_member = np.r_[np.ones(1000, bool), np.zeros(1000, bool)]
    rng = np.random.default_rng(4)
    member_scores = np.r_[np.full(200, 10.0), np.full(100, 9.0), np.full(100, 8.0), rng.uniform(0, 1, 600)]
    non_scores = np.r_[np.full(6, 9.0), np.full(6, 8.0), rng.uniform(0, 1, 988)]
    f = membership_figures(np.r_[member_scores, non_scores], is_member, bootstrap=0)
    assert f["tpr_at_1pct_fpr"] == pytest.approx(0.3)


def test_a_threshold_that_calls_everyone_a_member_reports_no_f1():
    scores, is_member = _data()
    f = membership_figures(scores, is_member, threshold=float(scores.min()), bootstrap=0)
    assert f["f1"] is None and f["balanced_accuracy"] is None and "decides nothing" in f["f1_reason"]
    assert f["auc"] > 0.5  # the threshold-free figures stay


def test_auc_interval_is_stratified_and_matches_a_loop():
    """The vectorized interval equals a plain loop over the same stratified resamples' AUCs in distribution."""
    from privgan_runner.attacks.figures import auc_statistic, bootstrap_auc_ci

    scores, is_member = _data(seed=5, m=100, n=200)
    members, non = scores[is_member], scores[~is_member]
    assert auc_statistic(members, non) == pytest.approx(roc_auc_score(is_member, scores))
    tied = np.round(scores, 1)  # ties count 1/2, as roc_auc_score
    assert auc_statistic(tied[is_member], tied[~is_member]) == pytest.approx(roc_auc_score(is_member, tied))
    lo, hi = bootstrap_auc_ci(is_member, scores, 2000, seed=0)
    rng = np.random.default_rng(1)
    loop = [
        roc_auc_score(np.r_[np.ones(100), np.zeros(200)], np.r_[rng.choice(members, 100), rng.choice(non, 200)])
        for _ in range(2000)
    ]
    ref_lo, ref_hi = np.quantile(loop, [0.025, 0.975])
    assert lo == pytest.approx(ref_lo, abs=0.015) and hi == pytest.approx(ref_hi, abs=0.015)


def test_low_fpr_points_carry_an_exact_interval_and_their_resolution():
    scores, is_member = _data(seed=6, m=150, n=300)
    f = membership_figures(scores, is_member, bootstrap=0)
    k = round(f["tpr_at_1pct_fpr"] * 150)
    from scipy.stats import beta

    assert f["tpr_at_1pct_fpr_ci"][0] == pytest.approx(beta.ppf(0.025, k, 150 - k + 1) if k else 0.0)
    assert f["tpr_at_1pct_fpr_ci"][1] == pytest.approx(beta.ppf(0.975, k + 1, 150 - k) if k < 150 else 1.0)
    assert f["fpr_resolution"] == pytest.approx(1 / 300)
    assert "tpr_at_1pct_fpr_note" not in f and "below the FPR resolution" in f["tpr_at_0p1pct_fpr_note"]


def test_tvd_is_read_against_its_permutation_chance_level():
    """Binned TVD is biased upwards on small samples: with no leak it sits at its permutation chance level."""
    from types import SimpleNamespace

    import torch

    from privgan_runner.attacks.tvd import TVD
    from privgan_runner.objectives.js import JS

    def stub(shift, seed=0):
        rng = np.random.default_rng(seed)
        is_member = np.r_[np.ones(100, bool), np.zeros(900, bool)]
        logits = rng.normal(size=1000) + shift * is_member
        return SimpleNamespace(
            attacked_idx=np.arange(1000),
            is_member=is_member,
            objective=JS(),
            seed=seed,
            d_views=lambda idx: torch.as_tensor(logits[idx]).unsqueeze(1),
        )

    nulls = [TVD(permutations=200, bootstrap=0).scores(stub(0.0, seed)).extra for seed in range(10)]
    assert all(n["tvd"] > 0.15 for n in nulls)  # the bias: no leak, yet far from 0 ...
    assert abs(np.mean([n["tvd"] - n["tvd_chance"] for n in nulls])) < 0.03  # ... and at its chance level
    assert sum(n["tvd_p_value"] <= 0.05 for n in nulls) <= 3  # p-values of a null: rarely small
    leak = TVD(permutations=200, bootstrap=0).scores(stub(1.5)).extra
    assert leak["tvd"] > leak["tvd_chance"] + 0.2 and leak["tvd_p_value"] == pytest.approx(1 / 201)
