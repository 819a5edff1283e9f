"""A DP mechanism's claimed privacy profile: the (epsilon, delta) pairs its accountant certifies, for every delta
at once -- the trade-off curve an f-DP audit tests the claim against (audit/fdp.py).

The composition of `steps` subsampled Gaussians (noise multiplier sigma, rate q):
- Poisson subsampling (DP-SGD, dp-GAN, whichever accountant reported epsilon: each bounds the same mechanism):
  Opacus' PRV accountant (Gopi, Lee & Wutschitz 2021), the privacy loss distribution discretized and composed
  once, read at every delta of the grid as its certified upper epsilon (its own error bounds included);
- sampling without replacement (GS-WGAN, DPAC): Wang, Balle & Kasiviswanathan 2019's Theorem 9 RDP, each
  order converted by the classic epsilon = RDP(a) + log(1/delta) / (a - 1) (Mironov 2017, Prop. 3), the best
  order at each delta (looser than the true curve: the test is weaker for it, never unsound).
"""

from __future__ import annotations

import math

import numpy as np

#: the deltas the profile is computed at
DELTAS = np.logspace(-16, math.log10(0.5), 80)


def rdp_curve(accountant: str, sigma: float, q: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(orders, RDP of the composition at each order)."""
    if accountant == "wbk19":
        from .subsampled_rdp import MAX_ORDER, subsampled_gaussian_rdp

        orders = np.arange(2, MAX_ORDER + 1, dtype=float)
        return orders, steps * subsampled_gaussian_rdp(float(sigma), float(q))
    from opacus.accountants.analysis.rdp import compute_rdp

    orders = np.concatenate([np.linspace(1.1, 10.9, 99), np.arange(11, 512, dtype=float)])
    return orders, np.asarray(compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=list(orders)))


def prv_profile(sigma: float, q: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(epsilons, deltas) of Poisson-subsampled Gaussians by Opacus' PRV accountant, one composition for every
    delta (the deltas it can resolve: down to 1e-10)."""
    import warnings

    from opacus.accountants import PRVAccountant

    deltas = DELTAS[DELTAS >= 1e-10]
    accountant = PRVAccountant()
    accountant.history = [(float(sigma), float(q), int(steps))]
    eps = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # its tails overflow harmlessly
        warnings.simplefilter("ignore")
        composed = accountant._get_dprv(eps_error=0.01, delta_error=float(deltas[0]) / 1000)
        for delta in deltas:
            try:
                eps.append(composed.compute_epsilon(float(delta), float(delta) / 1000, 0.01)[2])
            except (RuntimeError, ValueError):  # a delta the discretization cannot resolve: no pair
                eps.append(np.inf)
    return np.maximum(np.asarray(eps, dtype=float), 0.0), deltas


def profile(accountant: str, sigma: float, q: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(epsilons, deltas): for each delta of the grid, the epsilon the mechanism's claim certifies."""
    if accountant != "wbk19":
        return prv_profile(sigma, q, steps)
    orders, rdp = rdp_curve(accountant, sigma, q, steps)
    eps = np.min(rdp[None, :] + np.log(1.0 / DELTAS)[:, None] / (orders[None, :] - 1), axis=1)
    return np.maximum(eps, 0.0), DELTAS.copy()


def epsilon_lower(accountant: str, sigma: float, q: float, steps: int, delta: float) -> float | None:
    """A LOWER bound on the true epsilon at delta of the composition (what a bound that says "epsilon is above
    that of this mechanism" may use): exact without subsampling (the Gaussian's, sqrt(steps) / sigma-GDP: Dong,
    Roth & Su 2022, Cor. 2.13); Opacus' PRV lower estimate under Poisson subsampling; None for sampling without
    replacement (its RDP bound is an upper bound only)."""
    if q >= 1.0:
        from scipy import optimize, stats

        mu = math.sqrt(steps) / sigma

        def excess(eps: float) -> float:
            n = stats.norm
            return float(n.cdf(-eps / mu + mu / 2) - math.exp(eps) * n.cdf(-eps / mu - mu / 2)) - delta

        if excess(0.0) <= 0:
            return 0.0
        hi = 1.0
        while excess(hi) > 0:
            hi *= 2
        return float(optimize.brentq(excess, 0.0, hi, xtol=1e-9))
    if accountant == "wbk19":
        return None
    import warnings

    from opacus.accountants import PRVAccountant

    accountant_ = PRVAccountant()
    accountant_.history = [(float(sigma), float(q), int(steps))]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        composed = accountant_._get_dprv(eps_error=0.01, delta_error=delta / 1000)
        return float(max(0.0, composed.compute_epsilon(delta, delta / 1000, 0.01)[0]))
