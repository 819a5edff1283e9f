"""The f-DP one-run test: is the observed count of right guesses possible under a claimed trade-off curve?

Mahloujifar, Melis & Chaudhuri 2025, "Auditing f-differential privacy in one run" (ICML; arXiv 2410.22235):
in Steinke et al.'s one-run game (m canaries, each in by a fair coin; the auditor guesses r of them and v
guesses are right), a mechanism that is f-DP with respect to each coin makes v right guesses with a
probability their recursive numerical bound (k = 2 outcomes per canary, with abstentions) keeps
under alpha; the hypothesis "f-DP" is rejected at level alpha when the bound is exceeded. Testing the whole
curve f instead of one (epsilon, delta) point is what makes it tighter than Steinke et al.'s bound: the delta
slack that a Gaussian mechanism's (epsilon, delta) carries (2 m delta in their p-value) never enters.

What is tested here (`claim_test`):
- the claim itself: f = the trade-off curve of the accountant's whole privacy profile (privacy/profile.py:
  every (epsilon, delta) pair it certifies at once). A correct accountant of a correct implementation is
  f-DP for this f, so a rejection at level alpha is evidence that the mechanism as run is not what is
  claimed: `claim_rejected`, sound for every mechanism;
- `epsilon_lb_claimed_form`: the accountant's epsilon of the noisiest mechanism OF THE CLAIMED FORM (the
  same accountant, sampling rate and steps, another noise multiplier) that the test rejects. A lower bound
  on epsilon for a mechanism of that form -- which a noise that is off by a factor, or a clipping that lets
  larger gradients through, still is -- and not for others (a wrong sampling rate): named for its
  assumption, as the multi-run audit's `epsilon_gdp_assumed` is.

Soundness is checked by simulation (tests/test_audit_fdp.py): on exact epsilon-DP randomized response and on
exact mu-GDP canaries the test rejects the true curve at most alpha of the time.
"""

from __future__ import annotations

import math
from functools import cache, lru_cache

import numpy as np

from ..privacy import profile as privacy_profile
from .canaries import guess_counts, guess_grid


def reverse_tradeoff(epsilons: np.ndarray, deltas: np.ndarray):
    """x -> f(1 - x) for f = the trade-off curve of the (epsilon_j, delta_j) pairs together: the largest over j of
    max(0, 1 - delta_j - e^eps_j (1 - x), e^-eps_j (x - delta_j)) (Dong, Roth & Su 2022, Prop. 2.5)."""
    grow = np.exp(np.minimum(np.asarray(epsilons, dtype=float), 700.0))
    shrink = 1.0 / grow
    deltas = np.asarray(deltas, dtype=float)

    def f_rev(x: float) -> float:
        y = 1.0 - x
        return float(max(0.0, np.max(1.0 - deltas - grow * y), np.max(shrink * (x - deltas))))

    return f_rev


def reverse_gaussian(mu: float):
    """x -> G_mu(1 - x) = Phi(Phi^-1(x) - mu): the Gaussian trade-off curve (Dong, Roth & Su 2022, Def. 2.7)."""
    from scipy.special import ndtr, ndtri

    return lambda x: float(ndtr(ndtri(x) - mu)) if 0 < x < 1 else float(x >= 1)


@lru_cache(maxsize=512)
def tradeoff_of(accountant: str, sigma: float, q: float, steps: int):
    """x -> f(1 - x) for the claimed mechanism: without subsampling (q = 1) the composition of `steps` Gaussians
    of multiplier sigma is exactly sqrt(steps) / sigma-GDP (Dong, Roth & Su 2022, Cor. 3.3); with subsampling, the
    curve of the composition's privacy profile (privacy/profile.py), each pair a certified upper epsilon."""
    if q >= 1.0:
        return reverse_gaussian(math.sqrt(steps) / sigma)
    return reverse_tradeoff(*privacy_profile.profile(accountant, sigma, q, steps))


def rejects(f_rev, m: int, r: int, v: int, alpha: float) -> bool:
    """Whether v right guesses of r (of m canaries) reject "f-DP" at level alpha (the paper's recursive bound,
    walked down from v right guesses; f_rev(x) = f(1 - x)). Both running masses only grow, so the walk stops as
    soon as they exceed r / m."""
    if r == 0 or v == 0:
        return False
    tau = alpha * r / m
    right, wrong, limit = tau * v / r, tau * (r - v) / r, r / m
    for i in range(v - 1, -1, -1):
        if right + wrong > limit:
            return True
        grown = max(wrong, f_rev(min(right, 1.0)))
        right, wrong = right + (i / (r - i)) * (grown - wrong), grown
    return right + wrong > limit


#: the claimed form's noise multipliers tried: sigma x 2^(i / STEPS_PER_DOUBLING), |i| <= 6 doublings
STEPS_PER_DOUBLING = 24


def claim_test(scores, inside, claim: dict, delta: float, alpha: float) -> dict:
    """The f-DP test of the claim, and the claimed form's epsilon lower bound (module docstring).

    claim: accountant ("rdp", "prv", "gdp" -> Poisson subsampling; "wbk19"), noise_multiplier (accounted),
    sample_rate, steps."""
    scores, inside = np.asarray(scores, dtype=float), np.asarray(inside, dtype=bool)
    m = len(scores)
    grid = guess_grid(m)
    counts = guess_counts(scores, inside, grid)
    level = alpha / len(grid)
    acc, q, steps, sigma = (
        claim["accountant"],
        float(claim["sample_rate"]),
        int(claim["steps"]),
        float(claim["noise_multiplier"]),
    )

    @cache
    def rejected(i: int) -> bool:  # the claimed form at sigma x 2^(i / STEPS_PER_DOUBLING)
        f_rev = tradeoff_of(acc, round(sigma * 2 ** (i / STEPS_PER_DOUBLING), 10), q, steps)
        return any(rejects(f_rev, m, r, v, level) for r, v in counts)

    # the least private rejected multiplier (a more private claim is rejected whenever a less private one is), by
    # bisection over the grid's indices: lo is never rejected, hi always is
    claim_rejected = rejected(0)
    lo, hi = (-6 * STEPS_PER_DOUBLING, 0) if claim_rejected else (0, 6 * STEPS_PER_DOUBLING)
    found = None
    if rejected(hi):
        if rejected(lo):  # even the least private multiplier tried
            hi = lo
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if rejected(mid) else (mid, hi)
        found = sigma * 2 ** (hi / STEPS_PER_DOUBLING)
    eps_lb = 0.0 if found is None else privacy_profile.epsilon_lower(acc, found, q, steps, delta)
    return {
        "claim_rejected": bool(claim_rejected),
        "epsilon_lb_claimed_form": round(eps_lb, 4),
        "noise_multiplier_rejected": None if found is None else round(found, 4),
        "alpha": alpha,
        "grid_size": len(grid),
        "curve": "exact Gaussian (no subsampling)" if q >= 1 else "the accountant's privacy profile",
        "note": "claim_rejected: the f-DP one-run test (Mahloujifar et al. 2025) of the accountant's whole privacy "
        "profile, sound for every mechanism; epsilon_lb_claimed_form: a lower bound only for mechanisms of the "
        "claimed form (same accountant, sampling rate and steps; another noise multiplier)",
    }
