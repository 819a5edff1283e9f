"""A mechanism with a privacy accountant (DP-SGD, dp-GAN, GS-WGAN, DPAC): the spent epsilon, the progress
bar's figure, and the accountant's history in the checkpoint (a resumed run goes on spending from it)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import PrivacyMechanism

#: the target epsilon when neither privacy.epsilon nor privacy.noise_multiplier is given
DEFAULT_EPSILON = 10.0
#: the largest target accepted: e^1000 bounds nothing, and calibrating the noise to a target no finite
#: accountant reaches would not end
MAX_EPSILON = 1000.0


def _positive_finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf


def check_budget(epsilon, noise_multiplier, delta) -> float | None:
    """Exactly one of a target epsilon and a noise multiplier, each finite and > 0, and delta in (0, 1); returns
    the target epsilon (None when the noise multiplier is given). Both given would spend what the noise
    multiplier spends whatever epsilon asked; a zero or infinite one has no guarantee or no training."""
    if epsilon is not None and noise_multiplier is not None:
        raise ConfigError(
            "noise_multiplier",
            f"give a target epsilon or a noise multiplier, not both (got privacy.epsilon={epsilon!r} and "
            f"privacy.noise_multiplier={noise_multiplier!r}): add privacy.epsilon=null to fix the noise multiplier",
        )
    if noise_multiplier is not None and not _positive_finite(noise_multiplier):
        raise ConfigError(
            "noise_multiplier", f"must be a finite number > 0 (no noise, no guarantee), got {noise_multiplier!r}"
        )
    if noise_multiplier is None:
        epsilon = DEFAULT_EPSILON if epsilon is None else epsilon
        if not _positive_finite(epsilon) or epsilon > MAX_EPSILON:
            raise ConfigError(
                "epsilon",
                f"must be in (0, {MAX_EPSILON:g}] (or give privacy.noise_multiplier; beyond, the guarantee is void: "
                f"privacy=none trains without one), got {epsilon!r}",
            )
    if not isinstance(delta, (int, float)) or isinstance(delta, bool) or not 0 < delta < 1:
        raise ConfigError("delta", f"must be in (0, 1) (exclusive), got {delta!r}")
    return float(epsilon) if epsilon is not None else None


def check_clip(key: str, value) -> None:
    """A clipping bound: finite and > 0 (an infinite one clips nothing, so the noise bounds nothing)."""
    if not _positive_finite(value):
        raise ConfigError(key, f"must be a finite number > 0, got {value!r}")


def subset_hash(ids: np.ndarray, seed: int) -> np.ndarray:
    """A seeded 64-bit hash of each id (splitmix64's finalizer): a function of the id and the seed alone."""
    with np.errstate(over="ignore"):
        x = np.asarray(ids, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


class Accounted(PrivacyMechanism):
    accountant = None  # an Opacus accountant, created when the step is made
    delta: float = 0.0
    #: the non-private warm start (dp-GAN on public records, GS-WGAN's discriminators) is done: a resumed run
    #: must not repeat it
    warm_started: bool = False

    def spent_epsilon(self) -> float | None:
        if self.accountant is None or not self.accountant.history:
            return None
        return float(self.accountant.get_epsilon(delta=self.delta))

    def accounted_steps(self) -> int:
        """The mechanism applications the accountant has recorded (its history's counts)."""
        return sum(h[2] for h in self.accountant.history) if self.accountant else 0

    def progress(self) -> dict[str, str]:
        spent = self.spent_epsilon()
        return {"eps": f"{spent:.2f}"} if spent is not None else {}

    def state(self) -> dict[str, Any]:
        history = list(self.accountant.history) if self.accountant else []
        out = {"accountant_history": history, "warm_started": self.warm_started}
        if self.gradient_canaries is not None:  # their scores so far: a resumed run goes on scoring
            out["gradient_canaries"] = self.gradient_canaries.state()
        return out

    def load_state(self, state: dict[str, Any]) -> None:
        if self.accountant is not None and "accountant_history" in state:
            self.accountant.history = [tuple(h) for h in state["accountant_history"]]
        self.warm_started = bool(state.get("warm_started", self.warm_started))
        if self.gradient_canaries is not None and "gradient_canaries" in state:
            self.gradient_canaries.load_state(state["gradient_canaries"])
