"""A mechanism with a privacy accountant (DP-SGD, dp-GAN, GS-WGAN, DPAC): the spent epsilon, the progress
bar's figure, and the accountant's history in the checkpoint (a resumed run goes on spending from it)."""

from __future__ import annotations

from typing import Any

from .base import PrivacyMechanism


class Accounted(PrivacyMechanism):
    accountant = None  # an Opacus accountant, created when the step is made
    delta: float = 0.0

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
        return {"accountant_history": list(self.accountant.history) if self.accountant else []}

    def load_state(self, state: dict[str, Any]) -> None:
        if self.accountant is not None and "accountant_history" in state:
            self.accountant.history = [tuple(h) for h in state["accountant_history"]]
