"""A DP mechanism's claimed privacy profile: the (epsilon, delta) pairs its accountant certifies, for every delta
at once -- the trade-off curve an f-DP audit tests the claim against (audit/fdp.py).

The composition of `steps` subsampled Gaussians (noise multiplier sigma, rate q):
- Poisson subsampling (DP-SGD, dp-GAN, whichever accountant reported epsilon: each bounds the same mechanism):
  Opacus' PRV accountant (Gopi, Lee & Wutschitz 2021), the privacy loss distribution discretized and composed
  once, read at every delta of the grid as its certified upper epsilon (its own error bounds included);
- one of K subsets picked per step, replace-one (GS-WGAN, DPAC): the privacy loss of the pair a canary realizes,
  (1 - q) N(0, 1) + q N(mu / 2, 1) against (1 - q) N(0, 1) + q N(-mu / 2, 1) (mu = 1 / sigma: the sensitivity over
  the noise), composed by the same PRV machinery (`ReplaceSubsampledGaussianPRV`), its domain sized by the
  accountant's own RDP bound (Wang, Balle & Kasiviswanathan 2019, Thm. 9, which bounds this pair). This is the
  curve of the mechanism the audit's canaries run through -- with the members' sum removed, a canary's
  coordinates see exactly this pair at every step -- not of every record's worst case, which the accountant's
  RDP bounds.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager

import numpy as np

#: the deltas the profile is computed at
DELTAS = np.logspace(-16, math.log10(0.5), 80)


@contextmanager
def _quiet():
    """Opacus' PRV numerics overflow harmlessly in the tails (and warn about it)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def gaussian_delta(epsilon: float, mu: float) -> float:
    """δ(ε) of a μ-GDP mechanism (Dong, Roth & Su 2022, Corollary 2.13)."""
    from scipy.special import ndtr

    return float(ndtr(-epsilon / mu + mu / 2) - math.exp(epsilon) * ndtr(-epsilon / mu - mu / 2))


def gaussian_epsilon(mu: float, delta: float) -> float:
    """The ε at which a μ-GDP mechanism's δ(ε) meets `delta` (0 when δ(0) is already below it)."""
    from scipy import optimize

    if gaussian_delta(0.0, mu) <= delta:
        return 0.0
    hi = 1.0
    while gaussian_delta(hi, mu) > delta:
        hi *= 2
    return float(optimize.brentq(lambda e: gaussian_delta(e, mu) - delta, 0.0, hi, xtol=1e-9))


class ReplaceSubsampledGaussianPRV:
    """The privacy loss log(P / Q)(X), X ~ P, of P = (1 - q) N(0, 1) + q N(b, 1) against Q = (1 - q) N(0, 1) +
    q N(-b, 1), b = 1 / (2 sigma): increasing in X, so its cdf is P's at the loss's inverse (closed form: a
    quadratic in e^(b x)). The interface of Opacus' PoissonSubsampledGaussianPRV (cdf, pdf)."""

    def __init__(self, sample_rate: float, noise_multiplier: float) -> None:
        self.sample_rate, self.noise_multiplier = float(sample_rate), float(noise_multiplier)
        self.b = 1.0 / (2.0 * self.noise_multiplier)

    def _x(self, t):
        """The x at which the loss is t."""
        q, b = self.sample_rate, self.b
        t = np.asarray(t, dtype=float)
        if q >= 1.0:  # the Gaussian: loss 2 b x
            return t / (2 * b)
        c, e = math.exp(-b * b / 2), np.exp(np.minimum(t, 700.0))
        lin = (1 - q) * (1 - e)
        u = (-lin + np.sqrt(lin * lin + 4 * (q * c) ** 2 * e)) / (2 * q * c)
        return np.log(np.maximum(u, 1e-300)) / b

    def _loss_slope(self, x):
        q, b, c = self.sample_rate, self.b, math.exp(-self.b * self.b / 2)
        up, down = q * c * np.exp(b * x), q * c * np.exp(-b * x)
        return b * up / ((1 - q) + up) + b * down / ((1 - q) + down)

    def cdf(self, t):
        from scipy.special import ndtr

        x = self._x(t)
        return (1 - self.sample_rate) * ndtr(x) + self.sample_rate * ndtr(x - self.b)

    def pdf(self, t):
        x = self._x(t)
        phi = lambda z: np.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
        return ((1 - self.sample_rate) * phi(x) + self.sample_rate * phi(x - self.b)) / self._loss_slope(x)


def composed(accountant: str, sigma: float, q: float, steps: int, delta_error: float, eps_error: float = 0.01):
    """The composition of `steps` steps as Opacus' DiscretePRV (Gopi, Lee & Wutschitz 2021): Poisson subsampling by
    Opacus' own PRV accountant; the replace-one pair (`ReplaceSubsampledGaussianPRV`) on a domain its RDP bound
    (Wang, Balle & Kasiviswanathan 2019, Thm. 9) makes safe (their Remark 5.6, as Opacus sizes its own)."""
    from opacus.accountants import PRVAccountant
    from opacus.accountants.analysis.prv import (
        Domain,
        TruncatedPrivacyRandomVariable,
        compose_heterogeneous,
        discretize,
    )

    from .subsampled_rdp import epsilon as wbk19_epsilon

    with _quiet():
        if accountant != "wbk19":
            prv_accountant = PRVAccountant()
            prv_accountant.history = [(float(sigma), float(q), int(steps))]
            return prv_accountant._get_dprv(eps_error=eps_error, delta_error=delta_error)
        one = [(float(sigma), float(q), 1)]
        bound = max(
            wbk19_epsilon([(float(sigma), float(q), int(steps))], delta_error / 4),
            wbk19_epsilon(one, delta_error / (8 * steps)),
        )
        half_width = max(bound, eps_error) + 3
        mesh = eps_error / math.sqrt(steps * math.log(12 / delta_error) / 2)
        domain = Domain.create_aligned(-half_width, half_width, mesh)
        truncated = TruncatedPrivacyRandomVariable(ReplaceSubsampledGaussianPRV(q, sigma), domain.t_min, domain.t_max)
        return compose_heterogeneous(dprvs=[discretize(truncated, domain)], num_self_compositions=[int(steps)])


def profile(accountant: str, sigma: float, q: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(epsilons, deltas): for each delta of the grid the claimed form can resolve (down to 1e-10), the certified
    upper epsilon of the composition (its discretization errors included)."""
    deltas = DELTAS[DELTAS >= 1e-10]
    prv = composed(accountant, sigma, q, steps, float(deltas[0]) / 1000)
    eps = []
    with _quiet():
        for delta in deltas:
            try:
                eps.append(prv.compute_epsilon(float(delta), float(delta) / 1000, 0.01)[2])
            except (RuntimeError, ValueError):  # a delta the discretization cannot resolve: no pair
                eps.append(np.inf)
    return np.maximum(np.asarray(eps, dtype=float), 0.0), deltas


def epsilon_lower(accountant: str, sigma: float, q: float, steps: int, delta: float) -> float:
    """A LOWER bound on the true epsilon at delta of the composition (what a bound that says "epsilon is above
    that of this mechanism" may use): exact without subsampling (the Gaussian's, sqrt(steps) / sigma-GDP: Dong,
    Roth & Su 2022, Cor. 2.13); with subsampling, the PRV composition's lower estimate (`composed`)."""
    if q >= 1.0:
        return gaussian_epsilon(math.sqrt(steps) / sigma, delta)
    prv = composed(accountant, sigma, q, steps, delta / 1000)
    with _quiet():
        return float(max(0.0, prv.compute_epsilon(delta, delta / 1000, 0.01)[0]))
