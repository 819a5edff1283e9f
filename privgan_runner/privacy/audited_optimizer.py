"""Opacus' DPOptimizer with the audit's gradient canaries entering its clipped sum (audit/gradient.py).

Opacus clips and sums the per-sample gradients into `p.summed_grad` and then, in `add_noise`, adds the noise
into `p.grad`; the canaries enter between the two, as records, and the noised sums are observed right after."""

from __future__ import annotations

from opacus.optimizers import DPOptimizer


class AuditedDPOptimizer(DPOptimizer):
    canaries = None

    def attach_canaries(self, canaries, names: list[str], claimed_rate: float, draw_rate: float) -> None:
        """`names`: the parameters' names in the optimizer's order."""
        self.canaries, self.names, self.claimed_rate, self.draw_rate = canaries, names, claimed_rate, draw_rate

    def add_noise(self):
        if self.canaries is None:
            return super().add_noise()
        summed = {name: p.summed_grad for name, p in zip(self.names, self.params)}
        self.canaries.enter(
            summed,
            [self.names],
            [self.max_grad_norm],
            [self.noise_multiplier * self.max_grad_norm],
            relation="add_remove",
            claimed_rate=self.claimed_rate,
            draw_rate=self.draw_rate,
        )
        super().add_noise()
        self.canaries.observe({name: p.grad for name, p in zip(self.names, self.params)})
