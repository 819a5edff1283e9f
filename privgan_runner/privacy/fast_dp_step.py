"""DP-SGD's D update without Opacus' hooks (`privacy.grad_sample=fast`): ghost clipping, or torch.func.

The data flow is DPStep's (Poisson batches, generated labels from the prior, a fresh G batch); only
the D update differs. The clipped sum of the (real, generated) pairs' gradients comes from one
forward of the stacked pairs and one backward to the layers' outputs, by ghost clipping
(`per_sample.layerwise_clipped_sum`: convolutions, linear and normalization layers), or, for a D with
other layers, from per-pair gradients of one vmap(grad) call (`per_sample.sanitize`); either way with
Opacus' DPOptimizer's clip factor, noise draws and division by the expected batch size. Then the
trainer's Adam steps and the accountant records the step. tests/test_dp_fast.py checks both paths
equal Opacus' update to 1e-6.
"""

from __future__ import annotations

import torch

from .dp_step import DPStep
from .per_sample import (
    clipped_sum,
    group_stds,
    layerwise_clipped_sum,
    layerwise_supported,
    noised_mean,
    per_sample_gradients,
)


def one_record(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.unsqueeze(0)


class FastDPStep(DPStep):
    def __init__(
        self,
        *args,
        accountant,
        noise_multiplier: float,
        max_grad_norm: float,
        secure_mode: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.accountant, self.noise_multiplier = accountant, noise_multiplier
        self.max_grad_norm, self.secure_mode = max_grad_norm, secure_mode
        self.order = [name for name, p in self.D.named_parameters() if p.requires_grad]
        self.layerwise = layerwise_supported(self.D)  # else torch.func's vmap over records

    def pair_loss(self, call, x, y, c, fake, y_fake, c_fake) -> torch.Tensor:
        """One (real, generated) pair's D loss: the objective's batch loss on a batch of one pair."""
        real_out = call(one_record(x), one_record(y), one_record(c))
        fake_out = call(one_record(fake), one_record(y_fake), one_record(c_fake))
        return self.objective.d_loss(real_out, fake_out)

    def clipping(self, grads) -> tuple[list[list[str]], list[float], float]:
        """(groups, bounds, noise multiplier of a group's bound): DP-SGD's one global group."""
        return [self.order], [self.max_grad_norm], self.noise_multiplier

    def layerwise_sum(self, x, y, c, fake, y_fake, c_fake):
        """(clipped sum, D loss) by ghost clipping, or None where it does not apply."""
        n = x.shape[0]
        if not self.layerwise or n == 0:
            return None
        both = lambda a, b: None if a is None else torch.cat([a, b])  # noqa: E731
        d_loss = []

        def summed_loss():  # the objectives' D losses are means of per-pair terms: n x the mean is their sum
            out = self.D(torch.cat([x, fake]), both(y, y_fake), both(c, c_fake))
            d_loss.append(self.objective.d_loss(out[:n], out[n:]))
            return d_loss[0] * n

        summed = layerwise_clipped_sum(self.D, summed_loss, self.max_grad_norm, rows_per_record=2)
        if summed is None:
            return None
        return {k: v.contiguous() for k, v in summed.items()}, d_loss[0].detach()

    def per_pair(self, x, y, c, fake, y_fake, c_fake):
        """({parameter: [B, ...]} per-pair gradients, per-pair losses [B]) by vmap(grad) of `pair_loss`."""
        return per_sample_gradients(self.D, self.pair_loss, (x, y, c, fake, y_fake, c_fake))

    def clipped(self, x, y, c, fake, y_fake, c_fake):
        """(clipped sum per parameter, D loss, groups, bounds, group noise multiplier) of one D update."""
        done = self.layerwise_sum(x, y, c, fake, y_fake, c_fake)
        if done is not None:
            return (*done, [self.order], [self.max_grad_norm], self.noise_multiplier)
        grads, losses = self.per_pair(x, y, c, fake, y_fake, c_fake)
        groups, bounds, sigma = self.clipping(grads)
        return clipped_sum(grads, self.order, groups, bounds), losses.mean(), groups, bounds, sigma

    def d_update(self, x, y, c, fake, y_fake, c_fake):
        summed, d_loss, groups, bounds, sigma = self.clipped(x, y, c, fake, y_fake, c_fake)
        canaries = self.canaries
        if canaries is not None:  # the audit's gradient canaries enter the clipped sum as records do
            canaries.enter(
                summed,
                groups,
                bounds,
                [sigma * b for b in bounds],
                relation="add_remove",
                claimed_rate=self.accounted_rate,
                draw_rate=self.sample_rate,
            )
        stds = group_stds(self.order, groups, bounds, sigma)
        noised = noised_mean(summed, self.order, stds, self.batch_size, self.secure_mode)
        if canaries is not None:
            canaries.observe(noised, scale=self.batch_size)
        params = dict(self.D.named_parameters())
        for name, g in noised.items():
            params[name].grad = g.view_as(params[name])
        self.opt_d.step()
        self.opt_d.zero_grad(set_to_none=True)
        sigma_accounted = self.accounted_noise_multiplier(len(groups))
        self.accountant.step(noise_multiplier=sigma_accounted, sample_rate=self.accounted_rate)
        self.regularizer.after_d_step(self.D)
        return d_loss, None

    def accounted_noise_multiplier(self, n_groups: int) -> float:
        return self.noise_multiplier

    def g_loss(self, fake, y, c_fake):
        return self.objective.g_loss(self.D(fake, y, c_fake))
