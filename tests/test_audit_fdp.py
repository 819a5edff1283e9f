"""The f-DP one-run test (audit/fdp.py) and the white-box audit's statistic (audit/gradient.py).

Soundness is the property that matters: on mechanisms whose trade-off curve is known exactly (randomized
response that is exactly epsilon-DP; Gaussian canaries that are exactly mu-GDP) the test rejects the TRUE
curve at most alpha of the time. Power is checked too: a claim twice too private is rejected."""

from __future__ import annotations

import math

import numpy as np
import pytest

from privgan_runner.audit import fdp, gradient
from privgan_runner.audit.canaries import guess_counts, guess_grid
from privgan_runner.privacy import profile

ALPHA = 0.05


@pytest.mark.parametrize("eps", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("r", [50, 200, 1000])
def test_randomized_response_is_rejected_at_most_alpha_of_the_time(eps, r):
    """Exactly eps-DP: each of r guesses is right with probability e^eps / (1 + e^eps), independently."""
    rng = np.random.default_rng(int(10 * eps) + r)
    f_rev = fdp.reverse_tradeoff(np.array([eps]), np.array([0.0]))
    right = rng.binomial(r, math.exp(eps) / (1 + math.exp(eps)), size=3000)
    decided = {v: fdp.rejects(f_rev, 1000, r, v, ALPHA) for v in np.unique(right)}
    rate = np.mean([decided[v] for v in right])
    assert rate <= ALPHA + 0.01  # 3,000 draws: 0.01 is over 2.5 standard errors


def gaussian_canaries(mu: float, m: int, rng) -> tuple[np.ndarray, np.ndarray]:
    inside = rng.random(m) < 0.5
    return rng.standard_normal(m) + mu * inside, inside


@pytest.mark.parametrize("mu", [0.5, 1.0])
def test_gaussian_canaries_reject_their_own_curve_at_most_alpha_of_the_time(mu):
    rng = np.random.default_rng(7)
    f_rev, rejected = fdp.reverse_gaussian(mu), 0
    trials = 300
    for _ in range(trials):
        scores, inside = gaussian_canaries(mu, 1000, rng)
        counts = guess_counts(scores, inside, guess_grid(1000))
        rejected += any(fdp.rejects(f_rev, 1000, r, v, ALPHA / len(counts)) for r, v in counts)
    assert rejected / trials <= ALPHA + 0.02


def test_a_claim_twice_too_private_is_rejected():
    """mu 1 canaries against a mu 0.5 claim (the Gaussian mechanism with its noise halved)."""
    rng = np.random.default_rng(3)
    scores, inside = gaussian_canaries(1.0, 10_000, rng)
    counts = guess_counts(scores, inside, guess_grid(10_000))
    assert any(fdp.rejects(fdp.reverse_gaussian(0.5), 10_000, r, v, ALPHA / len(counts)) for r, v in counts)


def test_the_claim_test_of_an_ideal_run_rejects_only_a_broken_one():
    """The ideal full-batch Gaussian mechanism (10 steps, sigma 2): its own claim stands, with the signal doubled
    (noise halved) it is rejected and the claimed-form bound exceeds the claimed epsilon."""
    claim = {"accountant": "rdp", "noise_multiplier": 2.0, "sample_rate": 1.0, "steps": 10}
    claimed = profile.epsilon_lower("rdp", 2.0, 1.0, 10, 1e-5)
    honest = gradient.ideal_scores(30_000, 10, 1.0, 0.5, "add_remove", "likelihood_ratio", seed=0)
    broken = gradient.ideal_scores(30_000, 10, 1.0, 1.0, "add_remove", "likelihood_ratio", seed=0)
    ok, bad = fdp.claim_test(*honest, claim, 1e-5, ALPHA), fdp.claim_test(*broken, claim, 1e-5, ALPHA)
    assert not ok["claim_rejected"] and ok["epsilon_lb_claimed_form"] <= claimed
    assert bad["claim_rejected"] and bad["epsilon_lb_claimed_form"] > claimed


def test_the_exact_gaussian_epsilon_is_below_the_accountants():
    """Without subsampling the claimed form's epsilon is the Gaussian's exact one: never above the RDP
    accountant's (an upper bound), and close to it."""
    from privgan_runner.privacy.dpsgd import _calibrated

    sigma = _calibrated(2.0, 1e-5, 1.0, 10, "rdp")
    exact = profile.epsilon_lower("rdp", sigma, 1.0, 10, 1e-5)
    assert 1.5 < exact <= 2.0


def test_the_prv_profile_agrees_with_the_accountant():
    """Under Poisson subsampling the profile's epsilon at the run's delta is the PRV accountant's, which is never
    above the RDP accountant's epsilon for the same mechanism."""
    from opacus.accountants import RDPAccountant

    eps, deltas = profile.profile("rdp", 1.5, 0.1, 100)
    rdp = RDPAccountant()
    rdp.history = [(1.5, 0.1, 100)]
    at = np.interp(np.log(1e-5), np.log(deltas), eps)  # deltas ascending
    assert 0.5 * rdp.get_epsilon(1e-5) < at <= rdp.get_epsilon(1e-5) + 0.05
    assert np.all(np.diff(eps) <= 1e-9)  # epsilon falls as delta grows


def test_the_ceiling_of_no_signal_is_zero():
    scores, inside = gradient.ideal_scores(1000, 50, 0.2, 0.0, "add_remove", "likelihood_ratio", seed=1)
    assert gradient.best_bound(scores, inside, 1e-5, ALPHA)["epsilon_lb"] < 0.3


def test_guesses_depend_on_the_scores_not_the_order():
    scores, inside = gradient.ideal_scores(2000, 20, 0.5, 0.5, "replace", "likelihood_ratio", seed=2)
    order = np.random.default_rng(0).permutation(2000)
    assert gradient.best_bound(scores, inside, 1e-5, ALPHA) == gradient.best_bound(
        scores[order], inside[order], 1e-5, ALPHA
    )


def test_the_replace_one_pair_without_subsampling_is_the_gaussian():
    """At rate 1 the replace-one pair is N(mu/2, 1) against N(-mu/2, 1): its composed profile is the mu-GDP curve
    (within the composition's certified error, always on the safe side)."""
    from privgan_runner.audit.bounds import gdp_delta

    eps, deltas = profile.profile("wbk19", 2.0, 1.0, 10)
    mu = math.sqrt(10) / 2.0
    for e, d in zip(eps[::8], deltas[::8]):
        assert gdp_delta(e, mu) <= d <= 1.2 * gdp_delta(e, mu) + 1e-12


def test_the_replace_one_profile_holds_by_simulation():
    """Rate 1/2, 10 steps: the delta of a simulated privacy loss at the profile's epsilon is at most the profile's."""
    eps, deltas = profile.profile("wbk19", 2.0, 0.5, 10)
    q, b, rng = 0.5, 0.25, np.random.default_rng(0)
    loss = np.zeros(1_000_000)
    for _ in range(10):
        x = rng.standard_normal(loss.shape) + b * (rng.random(loss.shape) < q)
        loss += np.log(
            ((1 - q) * np.exp(-x * x / 2) + q * np.exp(-((x - b) ** 2) / 2))
            / ((1 - q) * np.exp(-x * x / 2) + q * np.exp(-((x + b) ** 2) / 2))
        )
    for i in (30, 40):
        simulated = np.mean(np.maximum(0.0, 1 - np.exp(eps[i] - loss)))
        assert simulated <= deltas[i] * 1.05  # 1e6 draws: a few percent of sampling error at these deltas
