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

from .dpsgd import DPStep
from .per_sample import layerwise_clipped_sum, layerwise_supported, noised_mean, per_sample_gradients, sanitize


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

    def layerwise_update(self, x, y, c, fake, y_fake, c_fake):
        """(noised mean gradient, D loss) by ghost clipping, or None where it does not apply."""
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
        std = self.noise_multiplier * self.max_grad_norm
        return noised_mean(summed, self.order, std, self.batch_size, self.secure_mode), d_loss[0].detach()

    def per_pair(self, x, y, c, fake, y_fake, c_fake):
        """({parameter: [B, ...]} per-pair gradients, per-pair losses [B]) by vmap(grad) of `pair_loss`."""
        return per_sample_gradients(self.D, self.pair_loss, (x, y, c, fake, y_fake, c_fake))

    def vmap_update(self, x, y, c, fake, y_fake, c_fake):
        grads, losses = self.per_pair(x, y, c, fake, y_fake, c_fake)
        groups, bounds, sigma = self.clipping(grads)
        noised = sanitize(grads, self.order, groups, bounds, sigma, self.batch_size, self.secure_mode)
        return noised, losses.mean(), len(groups)

    def d_update(self, x, y, c, fake, y_fake, c_fake):
        done = self.layerwise_update(x, y, c, fake, y_fake, c_fake)
        if done is not None:
            (noised, d_loss), n_groups = done, 1
        else:
            noised, d_loss, n_groups = self.vmap_update(x, y, c, fake, y_fake, c_fake)
        params = dict(self.D.named_parameters())
        for name, g in noised.items():
            params[name].grad = g.view_as(params[name])
        self.opt_d.step()
        self.opt_d.zero_grad(set_to_none=True)
        sigma_accounted = self.accounted_noise_multiplier(n_groups)
        self.accountant.step(noise_multiplier=sigma_accounted, sample_rate=self.sample_rate)
        self.regularizer.after_d_step(self.D)
        return d_loss, None

    def accounted_noise_multiplier(self, n_groups: int) -> float:
        return self.noise_multiplier

    def g_loss(self, fake, y, c_fake):
        return self.objective.g_loss(self.D(fake, y, c_fake))
