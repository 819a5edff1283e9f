"""The multi-run audit (Jagielski, Ullman & Oprea 2020; Nasr et al. 2023): T independent training runs, each
with a target canary drawn in or out by its own coin; one trial per run.

The trials are split in two halves (a seeded permutation): the threshold is chosen on the first half (the
one maximizing the Clopper-Pearson bound there) and the bound is computed on the second half only, so the
threshold is never scored on the data that chose it. Two figures at confidence 1 - alpha / n_attacks (a
Bonferroni correction for the attacks tried, which the caller states; the FPR and FNR intervals each take
alpha / 2 of it):

- `epsilon_lb_cp`, the lower bound: Clopper-Pearson (Jagielski et al. 2020) holds for every (ε, δ)-DP mechanism.
- `epsilon_gdp_assumed`: the ε at δ of the μ-GDP curve the counts imply (Nasr et al. 2023). It is a lower bound
  only for a mechanism whose trade-off curve is Gaussian (DP-SGD's is, approximately); on another mechanism it
  can exceed the true ε -- on randomized response that is exactly (2, 0)-DP it did so in every audit
  (tests/test_audit.py) -- so it is named for its assumption and never called a bound.

    python -m privgan_runner.audit outputs/sweeps/audit/no_privacy [--target 0] [--n-attacks 1]

reads every run folder below the path (each with audit/canary_scores.npz from `audit=one_run`, the same
configuration but the seed) and writes audit_multi_run.json beside them.
"""

from __future__ import annotations

import numpy as np

from . import bounds


def multi_run_bound(
    scores: np.ndarray, inside: np.ndarray, delta: float, alpha: float = 0.05, n_attacks: int = 1, seed: int = 0
) -> dict:
    """ε lower bounds from T trials (a score and an in/out coin each): threshold on one half, bound on the other."""
    scores, inside = np.asarray(scores, dtype=float), np.asarray(inside, dtype=bool)
    level = alpha / n_attacks
    order = np.random.default_rng(seed).permutation(len(scores))
    fit, held = order[: len(order) // 2], order[len(order) // 2 :]
    if len(fit) == 0:
        raise ValueError("no trials to choose a threshold on")
    candidates = np.unique(scores[fit])
    fp, n_out, fn, n_in = bounds.threshold_counts(scores[fit], inside[fit], candidates)
    eps = bounds.clopper_pearson_epsilons(fp, n_out, fn, n_in, delta, level)
    youden = (n_in - fn) / max(n_in, 1) - fp / max(n_out, 1)  # where every bound is 0: the best-separating t
    threshold = float(candidates[np.lexsort((youden, eps))[-1]])
    fp, n_out, fn, n_in = bounds.threshold_counts(scores[held], inside[held], np.array([threshold]))
    fp, fn = int(fp[0]), int(fn[0])
    return {
        "trials": int(len(scores)),
        "held_out_trials": int(len(held)),
        "threshold": float(threshold),
        "false_positives": fp,
        "negatives": n_out,
        "false_negatives": fn,
        "positives": n_in,
        "alpha": alpha,
        "n_attacks": n_attacks,
        "delta": delta,
        "split_seed": seed,
        "multiplicity": f"confidence 1 - alpha / n_attacks = {1 - level:g}: count every attack AND every target "
        "canary tried on these runs in n_attacks (the target must be fixed before the scores are seen)",
        "epsilon_lb_cp": round(bounds.clopper_pearson_epsilon(fp, n_out, fn, n_in, delta, level), 4),
        "epsilon_gdp_assumed": round(bounds.gdp_epsilon(fp, n_out, fn, n_in, delta, level), 4),
        "epsilon_gdp_assumed_note": "not a bound: the epsilon of the Gaussian trade-off curve the counts imply, a "
        "lower bound only if the mechanism's trade-off curve is Gaussian",
    }
