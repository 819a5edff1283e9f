"""The audit stage: empirical ε lower bounds beside the accountant's ε (results.json `audit`).

- one-run (Steinke, Nasr & Jagielski 2023), with `canaries` set: m canaries, each trained on with
  probability 1/2, are scored after training by `signal` (an attack of the run whose scores do not read
  the membership labels); the auditor guesses "in" for the k_pos highest and "out" for the k_neg lowest
  (fixed before any score is seen) and abstains on the rest; `epsilon_lb` is the bound of
  `bounds.one_run_epsilon` at confidence 1 - alpha. This is a DP lower bound: the canaries' inclusions are
  independent coin flips, the guesses are fixed functions of the released model.
- gradient (white box), with `gradient_canaries` = m > 0: m gradient canaries in the DP mechanism's sanitized
  channel, each in by a coin, scored from every noised update (audit/gradient.py); `gradient.epsilon_lb` is
  Steinke et al.'s bound on them at confidence 1 - alpha, beside the same audit's idealized ceiling.
- descriptive: the Clopper-Pearson and Gaussian-DP formulas (`bounds`) on each attack's own member and
  non-member scores, at the threshold that maximizes each. The members were not drawn by independent
  coins per record and the threshold is fitted on the same scores, so this is an "effective ε,
  descriptive, not a DP bound".
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..config import seed_like
from ..errors import ConfigError
from . import bounds
from .canaries import KINDS, guesses
from .gradient import STATISTICS

DEFAULT_DELTA = 1e-5  # the δ of a non-private run's bound (a DP run's is its own δ)
MAX_CANARIES = 10**6  # beyond, the appended canary images would not fit in memory


class Audit:
    name = "audit"

    def __init__(
        self,
        canaries: str | None = None,
        n_canaries: int = 100,
        k_pos: int = 20,
        k_neg: int = 20,
        signal: str = "white_box",
        alpha: float = 0.05,
        delta: float | None = None,
        canary_seed: int = 0,
        descriptive: bool = True,
        gradient_canaries: int = 0,
        gradient_scale: float = 2.0,
        gradient_statistic: str = "likelihood_ratio",
        ceiling_repeats: int = 5,
    ):
        if canaries is not None and canaries not in KINDS:
            raise ConfigError("canaries", f"must be null or one of {', '.join(KINDS)}, got {canaries!r}")
        counts = (
            ("n_canaries", n_canaries),
            ("k_pos", k_pos),
            ("k_neg", k_neg),
            ("gradient_canaries", gradient_canaries),
        )
        for key, value in counts:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(key, f"must be an integer >= 0, got {value!r}")
        for key, value in (("n_canaries", n_canaries), ("gradient_canaries", gradient_canaries)):
            if value > MAX_CANARIES:
                raise ConfigError(key, f"must be at most {MAX_CANARIES}, got {value!r}")
        if not seed_like(canary_seed):
            raise ConfigError("canary_seed", f"must be an integer in [0, 2^63), got {canary_seed!r}")
        if canaries is not None and n_canaries < 1:
            raise ConfigError("n_canaries", "must be >= 1 with canaries")
        if canaries is not None and k_pos + k_neg > n_canaries:
            raise ConfigError("k_pos", f"k_pos + k_neg = {k_pos + k_neg} guesses exceed the {n_canaries} canaries")
        if canaries is not None and k_pos + k_neg == 0:
            raise ConfigError("k_pos", "k_pos + k_neg must be >= 1: an auditor that never guesses proves nothing")
        if not (isinstance(alpha, float) and 0 < alpha < 1):
            raise ConfigError("alpha", f"must be in (0, 1), got {alpha!r}")
        if delta is not None and not (isinstance(delta, (int, float)) and 0 <= delta < 1):
            raise ConfigError("delta", f"must be null (the mechanism's δ, else 1e-5) or in [0, 1), got {delta!r}")
        self.canaries, self.n_canaries, self.k_pos, self.k_neg = canaries, n_canaries, k_pos, k_neg
        self.signal, self.alpha, self.delta, self.canary_seed = signal, float(alpha), delta, canary_seed
        self.descriptive = descriptive
        if not (
            isinstance(gradient_scale, (int, float))
            and not isinstance(gradient_scale, bool)
            and 1 <= gradient_scale < 1e6
        ):
            raise ConfigError(
                "gradient_scale",
                f"must be a number in [1, 1e6): a canary's norm in clipping bounds, got {gradient_scale!r}",
            )
        if gradient_statistic not in STATISTICS:
            raise ConfigError(
                "gradient_statistic", f"must be one of {', '.join(STATISTICS)}, got {gradient_statistic!r}"
            )
        if not isinstance(ceiling_repeats, int) or isinstance(ceiling_repeats, bool) or not 1 <= ceiling_repeats <= 100:
            raise ConfigError("ceiling_repeats", f"must be an integer in [1, 100], got {ceiling_repeats!r}")
        self.gradient_canaries, self.gradient_scale = gradient_canaries, float(gradient_scale)
        self.gradient_statistic, self.ceiling_repeats = gradient_statistic, ceiling_repeats

    def figures(self, attacks) -> list:
        """Descriptions of the figures this audit reports (results.json `figures`, the report's columns)."""
        from ..results import Figure

        out = []
        if self.canaries is not None:
            out.append(
                Figure(
                    "audit.one_run.epsilon_lb",
                    True,
                    True,
                    description=f"one-run DP lower bound on epsilon ({self.canaries} canaries, {self.signal} "
                    f"signal; Steinke et al. 2023), at confidence 1 - {self.alpha}",
                )
            )
        if self.gradient_canaries:
            out += [
                Figure(
                    "audit.gradient.epsilon_lb",
                    True,
                    True,
                    description=f"white-box one-run DP lower bound on epsilon ({self.gradient_canaries} gradient "
                    f"canaries in the sanitized channel, every noised update seen; Steinke et al. 2023), at "
                    f"confidence 1 - {self.alpha}",
                ),
                Figure(
                    "audit.gradient.epsilon_lb_claimed_form",
                    True,
                    True,
                    description="white-box epsilon lower bound for mechanisms of the claimed form (the f-DP one-run "
                    "test of Mahloujifar et al. 2025 against the accountant's profile at another noise multiplier); "
                    "audit.gradient.claim_rejected says whether the claim itself is rejected",
                ),
                Figure(
                    "audit.gradient.ceiling_epsilon_lb",
                    None,
                    True,
                    description="the same audit on the idealized subsampled Gaussian mechanism with the run's "
                    "sampling rate, noise, steps and canaries (simulated): where an honest implementation sits",
                ),
                Figure(
                    "audit.gradient.ceiling_epsilon_lb_claimed_form",
                    None,
                    True,
                    description="the claimed-form bound of the same audit on the idealized mechanism (simulated)",
                ),
                Figure(
                    "audit.gradient.claim_rejected",
                    None,
                    True,
                    description="1 when the f-DP one-run test rejects the accountant's claimed privacy profile at "
                    f"level {self.alpha} (the mechanism as run is not what is claimed), else 0",
                ),
            ]
        if self.descriptive:
            for attack in attacks:
                for formula, paper in (
                    ("cp", "Clopper-Pearson, Jagielski et al. 2020"),
                    ("gdp", "GDP, Nasr et al. 2023"),
                ):
                    out.append(
                        Figure(
                            f"audit.descriptive.{attack.name}.epsilon_{formula}_descriptive",
                            True,
                            False,
                            description=f"effective epsilon of {attack.name}'s scores ({paper}): descriptive, "
                            "not a DP bound",
                        )
                    )
        return out

    @property
    def active(self) -> bool:
        return self.canaries is not None or self.descriptive or bool(self.gradient_canaries)

    def check_gradient(self, privacy, model, image_size: int, channels: int, n_classes: int) -> None:
        """The white-box audit needs room for m canaries in the mechanism's sanitized channel."""
        if not self.gradient_canaries:
            return
        capacity = privacy.canary_capacity(model, image_size, channels, n_classes)
        if self.gradient_canaries > capacity:
            raise ConfigError(
                "audit.gradient_canaries",
                f"{self.gradient_canaries} canaries do not fit {privacy.name}'s sanitized channel: its largest tensor "
                f"holds {capacity} distinct coordinates",
            )

    def plant_gradient(self, privacy, seed: int):
        """This run's gradient canaries, attached to the mechanism (None without the white-box audit)."""
        from ..seeds import derive
        from .gradient import GradientCanaries

        if not self.gradient_canaries:
            return None
        # a canary's discriminator (GS-WGAN, DPAC): the same hash of its id as a member's, ids past any pool's
        ids = GRADIENT_CANARY_ID_BASE + np.arange(self.gradient_canaries)
        canaries = GradientCanaries(
            self.gradient_canaries,
            self.canary_seed,
            derive(seed, "gradient_canaries"),
            self.gradient_scale,
            self.gradient_statistic,
            where=privacy.canary_entry,
            codes=privacy.member_codes(self.gradient_canaries, seed, record_ids=ids).numpy(),
        )
        privacy.gradient_canaries = canaries
        return canaries

    def gradient(self, record: dict, privacy, privacy_record: dict) -> dict:
        """results.json `audit.gradient`: Steinke et al.'s bound and the f-DP test of the accountant's claim from the
        canaries' scores, each beside the same audit on the idealized mechanism (the ceiling)."""
        from . import fdp, gradient

        delta = self.delta_for(privacy)
        scores, inside = np.asarray(record["scores"], dtype=float), np.asarray(record["inside"], dtype=bool)
        found = gradient.best_bound(scores, inside, delta, self.alpha)
        keys = ("n_canaries", "steps", "entries", "relation", "sample_rate", "signal", "statistic", "scale", "tensors")
        info = {k: _plain(record[k]) for k in (*keys, "where")}
        claim = {k: privacy_record.get(k) for k in ("accountant", "noise_multiplier", "sample_rate", "steps")}
        claimed = info["steps"] and all(v is not None for v in claim.values())
        tested = fdp.claim_test(scores, inside, claim, delta, self.alpha) if claimed else None
        ideal = gradient.ceiling(info, delta, self.alpha, self.ceiling_repeats, claim if claimed else None)
        return {
            **info,
            "n_canaries_in": int(inside.sum()),
            **found,
            "alpha": self.alpha,
            "delta": delta,
            "fdp": tested,
            "claim_rejected": None if tested is None else tested["claim_rejected"],
            "epsilon_lb_claimed_form": None if tested is None else tested["epsilon_lb_claimed_form"],
            "ceiling_epsilon_lb": ideal["epsilon_lb"],
            "ceiling_epsilon_lb_claimed_form": ideal.get("epsilon_lb_claimed_form"),
            "ceiling": ideal,
            "threat_model": "white box, every sanitized update seen (the guarantee covers it); the members' clipped "
            "sum is subtracted at the canaries' coordinates",
        }

    def check(self, attacks, privacy=None) -> None:
        """The signal must be one of the run's attacks, one whose scores ignore who is a member, and one that
        reads what the mechanism releases (a D-reading signal against a G-only mechanism audits discriminators
        that are neither released nor private: its bound would sit beside the accountant's epsilon as if it
        tested it). The white-box audit needs a mechanism that declares where its canaries enter."""
        if self.gradient_canaries and (privacy is None or privacy.canary_entry is None):
            raise ConfigError(
                "audit.gradient_canaries",
                f"privacy={getattr(privacy, 'name', None)} has no sanitized channel to plant gradient canaries in "
                "(only a DP mechanism declares one): set audit.gradient_canaries=0",
            )
        if self.canaries is None:
            return
        by_name = {a.name: a for a in attacks}
        if self.signal not in by_name:
            raise ConfigError("audit.signal", f"{self.signal!r} is not among the run's attacks ({', '.join(by_name)})")
        if not by_name[self.signal].label_free_scores:
            raise ConfigError(
                "audit.signal",
                f"{self.signal} reads the membership labels to score (its scores of the canaries would "
                "depend on their inclusion beyond the model): use white_box, top_m or distance",
            )
        if privacy is not None and by_name[self.signal].reads_discriminator and not privacy.releases_discriminator:
            raise ConfigError(
                "audit.signal",
                f"{self.signal} reads the discriminator, which {privacy.name} never releases (it is trained on the "
                "members without noise, outside the guarantee): audit what is released with a G-only signal, "
                "audit.signal=distance (and attack=[distance,...])",
            )

    def delta_for(self, privacy) -> float:
        return float(self.delta if self.delta is not None else getattr(privacy, "delta", None) or DEFAULT_DELTA)

    def one_run(self, attack, trained, canary_idx: np.ndarray, canary_in: np.ndarray) -> tuple[dict, np.ndarray]:
        """The one-run bound from `attack`'s scores of the canaries; returns (figures, scores)."""
        from ..data.split import Membership

        view = replace(
            trained,
            membership=Membership(member_idx=canary_idx[canary_in], nonmember_idx=canary_idx[~canary_in]),
            _outputs={},
        )
        scored = attack.scores(view)
        by_idx = dict(zip(scored.record_idx.tolist(), scored.scores.tolist()))
        scores = np.array([by_idx[i] for i in canary_idx.tolist()])
        guess = guesses(scores, self.k_pos, self.k_neg)
        truth = np.where(canary_in, 1, -1)
        r, v, m = int((guess != 0).sum()), int((guess == truth).sum()), len(canary_idx)
        delta = self.delta_for(trained.privacy)
        return {
            "canaries": self.canaries,
            "n_canaries": m,
            "n_canaries_in": int(canary_in.sum()),
            "signal": self.signal,
            "k_pos": self.k_pos,
            "k_neg": self.k_neg,
            "guesses": r,
            "correct": v,
            "accuracy": v / r if r else None,
            "alpha": self.alpha,
            "delta": delta,
            "epsilon_lb": bounds.rounded(bounds.one_run_epsilon(m, r, v, delta, self.alpha)),
        }, scores

    def described(self, scores: np.ndarray, is_member: np.ndarray, delta: float) -> dict:
        """The descriptive ε of one attack's scores: each formula at its best threshold ("member" for
        scores >= t, over every distinct t, so no tie is ever split)."""
        fp, n_out, fn, n_in = bounds.threshold_counts(scores, is_member)
        cp = bounds.clopper_pearson_epsilons(fp, n_out, fn, n_in, delta, self.alpha)
        best = int(np.argmax(bounds.gdp_mu(fp, n_out, fn, n_in, self.alpha)))  # ε at δ grows with μ
        gdp = bounds.gdp_epsilon(int(fp[best]), n_out, int(fn[best]), n_in, delta, self.alpha)
        return {
            "epsilon_cp_descriptive": bounds.rounded(float(cp.max())),
            "epsilon_gdp_descriptive": bounds.rounded(gdp),
            "note": "effective epsilon, descriptive, not a DP bound (threshold fitted on these scores; "
            "members not drawn by independent coins)",
        }


#: gradient canaries' ids (for a mechanism that hashes ids, e.g. into GS-WGAN's subsets): past any pool's indices
GRADIENT_CANARY_ID_BASE = 1 << 48


def _plain(value):
    """A numpy scalar or 0-d array as the Python value JSON takes."""
    value = np.asarray(value)
    return value.item() if value.ndim == 0 else value.tolist()
