"""The white-box gradient-canary audit: canaries planted in a DP mechanism's sanitized channel itself.

Nasr et al. 2023 ("Tight auditing of differentially private machine learning", Sec. 3-4): with every noised
update visible and canaries that are gradients, not records, audits of DP-SGD reach the accountant's epsilon;
Steinke, Nasr & Jagielski 2023 (Sec. 6, "white-box") do it in one run with m Dirac canaries, each included
by a coin. Here:

- A canary is a fixed sparse gradient, chosen from `audit.canary_seed` before training: one coordinate in
  every tensor of the sanitized channel large enough to hold m distinct ones (D's parameters for DP-SGD and
  dp-GAN; the rows of G's sanitized sample gradients for GS-WGAN and DPAC), equal values whose norm is
  `scale` x the clipping bound of each clipping group it touches -- larger than the bound, so clipping has to
  act on it.
- Each canary's coin (probability 1/2, from the run's seed) says whether it is in. The mechanism declares
  where canaries enter (`PrivacyMechanism.canary_entry`): at each sanitized step, a canary that the step
  samples -- DP-SGD / dp-GAN: its own Poisson draw at the step's sampling rate, exactly as a member's;
  GS-WGAN / DPAC: its discriminator (the same hash of its id as a member's) is the one picked -- enters the
  clipped sum, clipped by the same function as the records (per_sample.clip_factors), before the noise.
  Under add/remove (DP-SGD, dp-GAN) an "out" canary never enters; under replace-one (GS-WGAN, DPAC) it
  enters with the opposite sign, the other record of the pair.
- The auditor sees every sanitized (noised) sum -- the all-updates threat model, which the guarantee covers
  -- and, at each canary's coordinates, subtracts the members' clipped sum: a function of the updates
  already released and of a member batch drawn independently of the coins, so the guarantee covers it too
  and the members' gradients do not drown the canaries. Per step and canary it standardizes the residual by
  the noise the mechanism declares and projects it on the canary's clipped direction: x ~ N(0, 1) when the
  canary is absent, N(+-a, 1) when it entered, a = the canary's clipped norm over the noise std.
- The score of a canary is the log-likelihood ratio of "in" against "out" summed over the steps, under the
  mechanism's declared sampling rate q (`statistic: likelihood_ratio`): log((1 - q) + q e^(a x - a^2/2)),
  minus the same with -a under replace-one; or the plain sum of x (`statistic: sum`).
- The bound is Steinke et al.'s (bounds.one_run_epsilon) on the guesses "in" for the k_pos highest scores,
  "out" for the k_neg lowest, for each (k_pos, k_neg) of a grid fixed in advance, each at alpha / (grid
  size) (Bonferroni), the largest reported: a DP lower bound at confidence 1 - alpha.
- The idealized ceiling: the same statistic, guesses and bound on simulated observations of the ideal
  subsampled Gaussian mechanism with the run's (q, a, steps, m): an honest implementation sits near it, a
  bug above it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..privacy import per_sample
from . import bounds
from .canaries import guess_counts, guess_grid, inclusion

STATISTICS = ("likelihood_ratio", "sum")


def step_statistic(x: np.ndarray, a: np.ndarray, q: float, relation: str, statistic: str) -> np.ndarray:
    """One step's score contribution for canaries with standardized observations x and signal a (arrays)."""
    if statistic == "sum":
        return x
    with np.errstate(divide="ignore"):  # q = 1: log(1 - q) = -inf, the canary is in every step it can be
        stay = np.log1p(-q)
    lr_in = np.logaddexp(stay, np.log(q) + a * x - a * a / 2)
    if relation == "add_remove":
        return lr_in
    return lr_in - np.logaddexp(stay, np.log(q) - a * x - a * a / 2)


def best_bound(scores: np.ndarray, inside: np.ndarray, delta: float, alpha: float) -> dict:
    """The largest one-run bound over the guess grid, each at alpha / grid size; with its guesses."""
    grid = guess_grid(len(scores))
    best = None
    for (k_pos, k_neg), (r, v) in zip(grid, guess_counts(scores, inside, grid)):
        eps = bounds.one_run_epsilon(len(scores), r, v, delta, alpha / len(grid))
        if best is None or eps > best["epsilon_lb"]:
            best = {"epsilon_lb": eps, "k_pos": k_pos, "k_neg": k_neg, "guesses": r, "correct": v}
    return {**best, "epsilon_lb": bounds.rounded(best["epsilon_lb"]), "grid_size": len(grid)}


def ideal_scores(m: int, steps: int, q: float, a: float, relation: str, statistic: str, seed: int):
    """(scores, inside) of m canaries in the ideal subsampled Gaussian mechanism: at each of `steps` steps a
    canary enters with probability q (with sign -1 when out under replace-one; not at all when out under
    add/remove) and the auditor sees a * entered + N(0, 1)."""
    rng = np.random.default_rng(seed)
    inside = rng.random(m) < 0.5
    sign = np.where(inside, 1.0, -1.0 if relation == "replace" else 0.0)
    scores = np.zeros(m)
    for start in range(0, steps, 256):
        n = min(256, steps - start)
        entered = rng.random((n, m)) < q
        x = rng.standard_normal((n, m)) + a * entered * sign
        scores += step_statistic(x, np.full(m, a), q, relation, statistic).sum(0)
    return scores, inside


def ceiling(record: dict, delta: float, alpha: float, repeats: int = 5, claim: dict | None = None) -> dict:
    """The same audit on the ideal mechanism with the run's parameters, `repeats` simulations: the median of
    Steinke et al.'s bound, and (with the accountant's `claim`) the median f-DP claimed-form bound."""
    from .fdp import claim_test

    if not record["steps"]:
        return {"epsilon_lb": None, "repeats": 0}
    found, claimed = [], []
    for seed in range(repeats):
        scores, inside = ideal_scores(
            record["n_canaries"],
            record["steps"],
            record["sample_rate"],
            record["signal"],
            record["relation"],
            record["statistic"],
            seed,
        )
        found.append(best_bound(scores, inside, delta, alpha)["epsilon_lb"])
        if claim is not None:
            claimed.append(claim_test(scores, inside, claim, delta, alpha)["epsilon_lb_claimed_form"])
    out = {"epsilon_lb": _median(found), "repeats": repeats, "all": found}
    if claim is not None:
        out["epsilon_lb_claimed_form"], out["all_claimed_form"] = _median(claimed), claimed
    return out


def _median(values: list) -> float | None:
    """The median of bounds, None (an infinite one) counted as the largest; None when the median is infinite."""
    return bounds.rounded(float(np.median([math.inf if v is None else v for v in values])))


class GradientCanaries:
    """m gradient canaries for one run: where they sit, which are in, and their scores so far (module docstring).

    The mechanism's step calls `enter` with the clipped sum of a sanitized step (before the noise) and
    `observe` with the same tensors after it; `state`/`load_state` carry the scores through a resume."""

    def __init__(
        self,
        m: int,
        canary_seed: int,
        coin_seed: int,
        scale: float = 2.0,
        statistic: str = "likelihood_ratio",
        where: str = "",
        codes: np.ndarray | None = None,
    ):
        """`where`: the mechanism's `canary_entry`; `codes`: each canary's subset (GS-WGAN's discriminator), from
        the mechanism's own `member_codes`."""
        self.m, self.canary_seed, self.scale, self.statistic = m, canary_seed, float(scale), statistic
        self.where, self.codes = where, codes
        self.inside = inclusion(m, coin_seed)
        self.generator = torch.Generator().manual_seed(coin_seed + 1)  # the canaries' own Poisson draws
        self.scores = np.zeros(m)
        self.steps = 0
        self.entries = 0  # canary entries into a clipped sum (all steps)
        self.relation: str | None = None
        self.claimed_rate: float | None = None
        self.signal: float | None = None  # a, the clipped norm over the noise std (the last step's)
        self.coords: dict[str, torch.Tensor] = {}  # tensor name -> [m] flat coordinates
        self._pending = None

    # --- placement ------------------------------------------------------------------------------------------
    def place(self, tensors: dict[str, torch.Tensor]) -> None:
        """One coordinate per canary, distinct, in every tensor with at least m entries (from canary_seed)."""
        from ..errors import ConfigError

        for index, (name, t) in enumerate(tensors.items()):
            if t.numel() >= self.m:
                rng = np.random.default_rng([self.canary_seed, index])
                self.coords[name] = torch.from_numpy(rng.choice(t.numel(), self.m, replace=False)).to(t.device)
        if not self.coords:
            largest = max(t.numel() for t in tensors.values())
            raise ConfigError(
                "audit.gradient_canaries",
                f"{self.m} gradient canaries need a sanitized tensor of at least {self.m} entries; the largest has "
                f"{largest}",
            )

    # --- one sanitized step ---------------------------------------------------------------------------------
    def enter(
        self,
        tensors: dict[str, torch.Tensor],
        groups: list[list[str]],
        clip_bounds: list[float],
        stds: list[float],
        *,
        relation: str,
        claimed_rate: float,
        draw_rate: float | None = None,
        chosen: torch.Tensor | None = None,
    ) -> None:
        """Add the step's canaries to the clipped sums `tensors` (in place, flat-viewable).

        groups[j]: the names of clipping group j, clipped to clip_bounds[j] and noised with std stds[j].
        Which canaries the step samples: `chosen` ([m] bool, GS-WGAN's picked discriminator), else a Poisson
        draw at `draw_rate` (the rate the step draws its records at). `claimed_rate`: the rate the mechanism
        is accounted with (the statistic's q)."""
        if not self.coords:
            self.place(tensors)
        self.relation, self.claimed_rate = relation, float(claimed_rate)
        if chosen is None:
            chosen = torch.rand(self.m, generator=self.generator) < draw_rate
        chosen = chosen.cpu()
        sign = torch.where(torch.from_numpy(self.inside), 1.0, -1.0 if relation == "replace" else 0.0)
        sign = sign * chosen
        self.entries += int((sign != 0).sum())
        pending, weight_sq = [], 0.0
        for j, names in enumerate(groups):
            names = [n for n in names if n in self.coords]
            if not names:
                continue
            raw = self.scale * clip_bounds[j]  # the canary's norm in this group, before clipping
            clipped = raw * float(per_sample.clip_factors(torch.tensor([raw]), clip_bounds[j])[0])
            value = clipped / math.sqrt(len(names))  # its share in each of the group's tensors
            weight = (clip_bounds[j] / math.sqrt(len(names))) / stds[j]  # the matched filter (declared clipping)
            weight_sq += weight * weight * len(names)
            for name in names:
                flat, idx = tensors[name].view(-1), self.coords[name]
                before = flat[idx].detach().clone()
                flat.index_add_(0, idx, (sign * value).to(flat.dtype).to(flat.device))
                pending.append((name, before, stds[j], weight))
        self.signal = math.sqrt(weight_sq)
        self._pending = pending

    def observe(self, noised: dict[str, torch.Tensor], scale: float = 1.0) -> None:
        """Score the step from its noised sums (`noised[name] * scale` is the sum the noise was added to)."""
        pending, self._pending = self._pending, None
        x = torch.zeros(self.m, dtype=torch.float64)
        for name, before, std, weight in pending:
            residual = noised[name].reshape(-1)[self.coords[name]].detach().double() * scale - before.double()
            x += (residual / std).cpu() * weight
        x = (x / self.signal).numpy()
        a = np.full(self.m, self.signal)
        self.scores += step_statistic(x, a, self.claimed_rate, self.relation, self.statistic)
        self.steps += 1

    # --- record -----------------------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "scores": self.scores.copy(),
            "steps": self.steps,
            "entries": self.entries,
            "generator": self.generator.get_state(),
            "relation": self.relation,
            "claimed_rate": self.claimed_rate,
            "signal": self.signal,
        }

    def load_state(self, state: dict) -> None:
        self.scores, self.steps, self.entries = (
            np.asarray(state["scores"], dtype=float),
            state["steps"],
            state["entries"],
        )
        self.generator.set_state(state["generator"])
        self.relation, self.claimed_rate, self.signal = state["relation"], state["claimed_rate"], state["signal"]

    def record(self) -> dict:
        """What the audit stage needs (checkpoints/gradient_canaries.npz)."""
        return {
            "scores": self.scores,
            "inside": self.inside,
            "n_canaries": self.m,
            "steps": self.steps,
            "entries": self.entries,
            "relation": self.relation,
            "sample_rate": self.claimed_rate,
            "signal": self.signal,
            "statistic": self.statistic,
            "scale": self.scale,
            "tensors": len(self.coords),
            "where": self.where,
        }


def write_gradient_canaries(path, record: dict) -> None:
    """The record of `GradientCanaries.record()`: arrays as arrays, the rest as one JSON string."""
    import json

    from ..io import write_npz

    meta = {k: v for k, v in record.items() if k not in ("scores", "inside")}
    write_npz(path, scores=record["scores"], inside=record["inside"], meta=np.array(json.dumps(meta)))


def read_gradient_canaries(path) -> dict:
    """The record `write_gradient_canaries` wrote (FileNotFoundError naming the file when absent)."""
    import json

    with np.load(path, allow_pickle=False) as f:
        return {"scores": f["scores"], "inside": f["inside"], **json.loads(str(f["meta"]))}
