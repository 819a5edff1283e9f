"""A mechanism with a privacy accountant (DP-SGD, dp-GAN, GS-WGAN, DPAC): the spent epsilon, the progress
bar's figure, and the accountant's history in the checkpoint (a resumed run goes on spending from it)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import PrivacyMechanism


def check_budget(epsilon, noise_multiplier, delta) -> None:
    """A target epsilon > 0 unless a noise multiplier (>= 0) is given, and delta in (0, 1)."""
    if noise_multiplier is None and (epsilon is None or not epsilon > 0):
        raise ConfigError("epsilon", f"must be > 0 (or give privacy.noise_multiplier), got {epsilon!r}")
    if noise_multiplier is not None and not noise_multiplier >= 0:
        raise ConfigError("noise_multiplier", f"must be >= 0, got {noise_multiplier!r}")
    if not isinstance(delta, (int, float)) or not 0 < delta < 1:
        raise ConfigError("delta", f"must be in (0, 1) (exclusive), got {delta!r}")


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
        return {"accountant_history": history, "warm_started": self.warm_started}

    def load_state(self, state: dict[str, Any]) -> None:
        if self.accountant is not None and "accountant_history" in state:
            self.accountant.history = [tuple(h) for h in state["accountant_history"]]
        self.warm_started = bool(state.get("warm_started", self.warm_started))
