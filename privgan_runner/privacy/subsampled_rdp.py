"""The RDP accountant of GS-WGAN and DPAC: the Gaussian mechanism amplified by subsampling WITHOUT replacement
(Wang, Balle & Kasiviswanathan 2019, "Subsampled Rényi differential privacy and analytical moments
accountant", Theorem 9) -- the accountant of GS-WGAN's reference code (evaluation/privacy_analysis.py:
autodp's `compose_subsampled_mechanism`, which is this theorem), computed here in numpy.

Why this bound and not Opacus' Poisson one: a GS-WGAN step picks one of K discriminators, each trained on its
own subset. With or without a record x, the picked discriminator's sanitized gradient is a Gaussian around
some point of the same ball (every row clipped to C), so the output laws with and without x are
(1 - q) R + q A and (1 - q) R + q B -- the picked branch differs on both sides. That is the structure of
subsampling without replacement under replacement of a record, which Theorem 9 bounds; the Poisson add/remove
bound (Mironov et al. 2019, Opacus) is for (1 - q) P + q Q against P and does not apply.

Theorem 9, for integer orders alpha >= 2, with eps(.) the base mechanism's RDP and gamma the sampling rate:
  eps'(alpha) <= 1/(alpha - 1) log(1 + gamma^2 C(alpha, 2) min{4 (e^eps(2) - 1), e^eps(2) min{2, (e^eps(inf) - 1)^2}}
                                 + sum_{j=3..alpha} gamma^j C(alpha, j) e^((j-1) eps(j)) min{2, (e^eps(inf) - 1)^j})
The Gaussian has eps(inf) = inf, so each min{2, .} is 2. The (epsilon, delta) conversion is the classic
eps = min_alpha eps'(alpha) + log(1/delta) / (alpha - 1) (Mironov 2017, Prop. 3) over the integer orders
2..MAX_ORDER; autodp also searches between integers, so its figure can be slightly smaller
(tests/test_gswgan.py recomputes every reported epsilon with autodp itself).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.special import gammaln, logsumexp

MAX_ORDER = 512


def _log_binom(n: int, k: np.ndarray) -> np.ndarray:
    return gammaln(n + 1) - gammaln(n - k + 1) - gammaln(k + 1)


@lru_cache(maxsize=4096)
def subsampled_gaussian_rdp(sigma: float, q: float) -> np.ndarray:
    """eps'(alpha) for alpha = 2..MAX_ORDER of one Gaussian (noise std / sensitivity = sigma) subsampled at rate
    q without replacement (Theorem 9); q = 1 is the Gaussian itself."""
    orders = np.arange(2, MAX_ORDER + 1)
    base = lambda a: a / (2.0 * sigma**2)  # noqa: E731  (the Gaussian's RDP at order a)
    if q >= 1.0:
        return base(orders.astype(float))
    out = np.empty(len(orders))
    f2 = base(2.0)
    # min{4 (e^f2 - 1), 2 e^f2} in log form (log(e^f2 - 1) = f2 + log(1 - e^-f2))
    second = min(math.log(4.0) + f2 + math.log1p(-math.exp(-f2)), math.log(2.0) + f2)
    log_q = math.log(q)
    for i, a in enumerate(orders):
        j = np.arange(3, a + 1)
        terms = [0.0, 2 * log_q + float(_log_binom(a, np.array(2))) + second]
        if len(j):
            terms.extend(math.log(2.0) + (j - 1) * base(j.astype(float)) + j * log_q + _log_binom(a, j))
        out[i] = min((a - 1) * base(float(a)), float(logsumexp(terms))) / (a - 1)
    return out


def epsilon(history, delta: float) -> float:
    """The (epsilon, delta) of the composition of `history`'s entries (sigma, q, count)."""
    orders = np.arange(2, MAX_ORDER + 1)
    total = sum(count * subsampled_gaussian_rdp(float(sigma), float(q)) for sigma, q, count in history)
    return float(np.min(total + math.log(1.0 / delta) / (orders - 1)))


@lru_cache(maxsize=256)
def noise_multiplier(target_epsilon: float, delta: float, q: float, count: int) -> float:
    """The smallest sigma (to 1e-4 relative) whose `count` compositions at rate q spend at most target_epsilon;
    ValueError when even sigma = 1e4 spends more."""
    lo, hi = 1e-2, 1.0
    while epsilon([(hi, q, count)], delta) > target_epsilon:
        lo, hi = hi, hi * 2
        if hi > 1e4:
            raise ValueError(
                f"epsilon {target_epsilon:g} cannot be reached with {count} steps at sampling rate {q:g} "
                "(noise multiplier above 1e4)"
            )
    while hi - lo > 1e-4 * hi:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if epsilon([(mid, q, count)], delta) > target_epsilon else (lo, mid)
    return hi


class SubsampledGaussianAccountant:
    """Opacus' accountant interface (history of (sigma, q, count), step, get_epsilon) over Theorem 9."""

    mechanism = "wbk19"

    def __init__(self):
        self.history: list[tuple[float, float, int]] = []

    def step(self, *, noise_multiplier: float, sample_rate: float) -> None:
        if self.history and self.history[-1][:2] == (noise_multiplier, sample_rate):
            sigma, q, n = self.history[-1]
            self.history[-1] = (sigma, q, n + 1)
        else:
            self.history.append((noise_multiplier, sample_rate, 1))

    def get_epsilon(self, delta: float) -> float:
        return epsilon(self.history, delta)
