"""Empirical lower bounds on ε: what an attack's success proves a mechanism cannot be (ε, δ)-DP below.

Three bounds, each with its paper:

- `one_run_epsilon`: Steinke, Nasr & Jagielski 2023, "Privacy auditing with one (1) training run"
  (Theorem 5.2 and the p-value routine of their appendix). m canaries are each included with
  probability 1/2; the auditor guesses r of them (abstaining on the rest) and v guesses are right. Under
  (ε, δ)-DP, P[≥ v right] ≤ P[Binomial(r, e^ε / (1 + e^ε)) ≥ v] + 2mδ · max_i P[v > Binomial ≥ v − i] / i.
  The bound is the largest ε whose p-value stays under α.
- `clopper_pearson_epsilon`: Jagielski, Ullman & Oprea 2020 (Sec. 4): any (ε, δ)-DP mechanism has
  FPR + e^ε FNR ≥ 1 − δ and FNR + e^ε FPR ≥ 1 − δ for every membership test; with Clopper-Pearson upper
  bounds on FPR and FNR from independent trials (each at 1 − α/2, so both hold at 1 − α),
  ε ≥ max(log((1 − δ − FPR⁺) / FNR⁺), log((1 − δ − FNR⁺) / FPR⁺)).
- `gdp_epsilon`: Nasr et al. 2023, "Tight auditing of differentially private machine learning" (Sec. 4):
  a μ-GDP mechanism has FNR ≥ Φ(Φ⁻¹(1 − FPR) − μ), so μ ≥ Φ⁻¹(1 − FPR⁺) − Φ⁻¹(FNR⁺), and μ-GDP is
  (ε, δ)-DP exactly when δ ≥ Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2) (Dong, Roth & Su 2022, Cor. 2.13);
  the bound is the ε at which that curve meets δ.

Every bound is 0 where the evidence proves nothing (never negative).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from ..privacy.profile import gaussian_delta, gaussian_epsilon


def one_run_p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """P[≥ v right guesses of r] for an (ε, δ)-DP mechanism and m canaries (Steinke et al. 2023)."""
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= v <= r <= m, got m={m}, r={r}, v={v}")
    if v == 0:
        return 1.0
    q = 1.0 / (1.0 + math.exp(-epsilon))  # the accuracy of ε-DP randomized response
    beta = float(stats.binom.sf(v - 1, r, q))  # P[Binomial(r, q) >= v]
    # P[v > Binomial(r, q) >= v - i] for i = 1..v, divided by i: the δ term's worst spread
    below = stats.binom.pmf(np.arange(v - 1, -1, -1), r, q).cumsum()
    alpha = float((below / np.arange(1, v + 1)).max())
    return min(1.0, beta + alpha * delta * 2 * m)


def _largest_epsilon(p_value, alpha: float) -> float:
    """The largest ε ≥ 0 with p_value(ε) < alpha (p_value grows with ε); 0 when even ε = 0 is not rejected."""
    if not p_value(0.0) < alpha:
        return 0.0
    hi = 1.0
    while p_value(hi) < alpha:
        hi *= 2
        if hi > 1e3:  # more right guesses than any finite ε explains: report the cap
            return math.inf
    return float(optimize.brentq(lambda e: p_value(e) - alpha, hi / 2 if hi > 1 else 0.0, hi, xtol=1e-9))


def one_run_epsilon(m: int, r: int, v: int, delta: float, alpha: float = 0.05) -> float:
    """Steinke et al.'s ε lower bound at confidence 1 − alpha from v right guesses of r on m canaries."""
    return _largest_epsilon(lambda e: one_run_p_value(m, r, v, e, delta), alpha)


def clopper_pearson_upper(k, n: int, level: float):
    """One-sided Clopper-Pearson upper bound on a rate from k events in n trials, holding with prob. `level`
    (k may be an array of counts)."""
    if n == 0:
        return np.ones_like(np.asarray(k, dtype=float)) if np.ndim(k) else 1.0
    k = np.asarray(k)
    upper = np.where(k >= n, 1.0, stats.beta.ppf(level, np.minimum(k, n - 1) + 1, np.maximum(n - k, 1)))
    return upper if upper.ndim else float(upper)


def clopper_pearson_epsilons(fp, n_out: int, fn, n_in: int, delta: float, alpha: float = 0.05) -> np.ndarray:
    """`clopper_pearson_epsilon` for arrays of counts (one entry per threshold)."""
    fpr = np.asarray(clopper_pearson_upper(fp, n_out, 1 - alpha / 2), dtype=float)
    fnr = np.asarray(clopper_pearson_upper(fn, n_in, 1 - alpha / 2), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(1 - delta - fpr > 0, np.log(np.maximum(1 - delta - fpr, 1e-300) / fnr), 0.0)
        b = np.where(1 - delta - fnr > 0, np.log(np.maximum(1 - delta - fnr, 1e-300) / fpr), 0.0)
    return np.maximum(0.0, np.maximum(a, b))


def threshold_counts(scores: np.ndarray, is_member: np.ndarray, thresholds: np.ndarray | None = None):
    """(fp, n_out, fn, n_in) for the decision "member iff score >= t" at each threshold (default: every
    distinct score, so no tie is ever split)."""
    thresholds = np.unique(scores) if thresholds is None else thresholds
    member_scores, other_scores = np.sort(scores[is_member]), np.sort(scores[~is_member])
    n_in, n_out = len(member_scores), len(other_scores)
    fp = n_out - np.searchsorted(other_scores, thresholds, side="left")
    fn = np.searchsorted(member_scores, thresholds, side="left")
    return fp, n_out, fn, n_in


def clopper_pearson_epsilon(fp: int, n_out: int, fn: int, n_in: int, delta: float, alpha: float = 0.05) -> float:
    """Jagielski et al. 2020: ε lower bound from fp false positives of n_out and fn false negatives of n_in."""
    return float(clopper_pearson_epsilons(fp, n_out, fn, n_in, delta, alpha))


#: δ(ε) of a μ-GDP mechanism (Dong, Roth & Su 2022, Corollary 2.13)
gdp_delta = gaussian_delta


def gdp_mu(fp, n_out: int, fn, n_in: int, alpha: float = 0.05):
    """Nasr et al. 2023: the μ lower bound from the Clopper-Pearson upper bounds of FPR and FNR (counts may be
    arrays, one entry per threshold)."""
    fpr = clopper_pearson_upper(fp, n_out, 1 - alpha / 2)
    fnr = clopper_pearson_upper(fn, n_in, 1 - alpha / 2)
    mu = np.maximum(0.0, stats.norm.ppf(1 - fpr) - stats.norm.ppf(fnr))
    return mu if np.ndim(mu) else float(mu)


def gdp_epsilon(fp: int, n_out: int, fn: int, n_in: int, delta: float, alpha: float = 0.05) -> float:
    """The ε at δ of the smallest μ-GDP the counts prove (0 when μ ≤ 0 or δ(0) ≤ δ already)."""
    mu = gdp_mu(fp, n_out, fn, n_in, alpha)
    if mu <= 0 or math.isinf(mu):
        return math.inf if math.isinf(mu) else 0.0
    return gaussian_epsilon(mu, delta)


def rounded(value: float) -> float | None:
    """A bound as results.json reports it: to 4 decimals, inf (more right guesses than any finite ε explains) as
    null."""
    return None if math.isinf(value) else round(float(value), 4)
