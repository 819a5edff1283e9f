"""PrivGAN (Mukherjee et al., PETS 2021): N generator/discriminator pairs and a privacy discriminator.

The members are split into N equal groups; pair k trains only on group k. A privacy discriminator
P(x) -> group learns which generator made a sample; every generator is also trained to fool P into a
random wrong group, weighted by lam. As in the reference implementation: P is pretrained on the
members with their group labels (`pretrain_epochs`, 50), P is not updated for the first
`warmup_epochs` (K = 100) while the generators already use it (`penalty_during_warmup`, default true),
P's optimizer starts from a fresh state at the switch, batches are drawn per group with
replacement, all generators share one noise batch, and an epoch is one pass over a group.

Sampling picks a generator uniformly per record. Attacks read every discriminator and take the max
(the white-box attack also reports the mean).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..training.step import AdversarialStep, StepContext
from .group_classifier import GroupClassifierMechanism, WarmupSwitch, fool_loss


class GeneratorSet(nn.Module):
    """N generators; G(z, y, c) returns generator c's sample for each record."""

    def __init__(self, generators):
        super().__init__()
        self.members = nn.ModuleList(generators)

    def forward(self, z, y=None, c=None):
        if c is None:
            raise ValueError("PrivGAN's generator set needs the generator index c of every record")
        out = torch.stack([g(z, y) for g in self.members], 1)  # [B, N, C, H, W]
        return out[torch.arange(z.shape[0], device=z.device), c]


class DiscriminatorSet(nn.Module):
    """N discriminators; D(x, y, c) returns discriminator c's output for each record."""

    def __init__(self, discriminators):
        super().__init__()
        self.members = nn.ModuleList(discriminators)

    def views(self, x, y=None):
        return torch.stack([d(x, y) for d in self.members], 1)  # [B, N]

    def forward(self, x, y=None, c=None):
        return self.views(x, y)[torch.arange(x.shape[0], device=x.device), c]


class PrivGANStep(AdversarialStep):
    loss_names = ("d_loss", "g_loss", "penalty", "p_loss", "p_accuracy")

    def __init__(self, *args, P, opt_p, lam: float, switch: WarmupSwitch, group_idx: torch.Tensor, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.P, self.opt_p, self.lam, self.switch = P, opt_p, lam, switch
        self.group_idx, self.members = group_idx, members  # [N, group size]: member indices per group

    def optimizers(self) -> dict:
        return {**super().optimizers(), "opt_p": self.opt_p}

    def __call__(self, real, labels, codes):
        X, Y, _ = self.members
        n_groups, size = self.group_idx.shape
        batch = real.shape[1]
        Gs, Ds = self.G.members, self.D.members
        self.D.requires_grad_(True)
        for _ in range(real.shape[0]):  # n_critic
            pick = self.group_idx.gather(1, torch.randint(0, size, (n_groups, batch), device=X.device))
            z = self.noise(real[0])
            d_loss, penalty, fakes = 0.0, None, []
            for k in range(n_groups):
                x, y = X[pick[k]], (Y[pick[k]] if self.conditional else None)
                with torch.no_grad():
                    fake = Gs[k](z, y)
                fakes.append(fake)
                d_loss = d_loss + self.objective.d_loss(Ds[k](x, y), Ds[k](fake, y))
                pen = self.regularizer.penalty(Ds[k], lambda inp, y=y, k=k: Ds[k](inp, y), x, fake)
                penalty = pen if penalty is None else (penalty if pen is None else penalty + pen)
            total = d_loss if penalty is None else d_loss + penalty
            self.opt_d.zero_grad(set_to_none=True)
            total.backward()
            self.opt_d.step()
            self.regularizer.after_d_step(self.D)

        # privacy discriminator: which generator made each sample (off during the warm-up epochs)
        self.P.requires_grad_(True)
        made_by = torch.arange(n_groups, device=X.device).repeat_interleave(batch)
        logits = self.P(torch.cat(fakes))
        p_loss = F.cross_entropy(logits, made_by)
        self.opt_p.zero_grad(set_to_none=True)
        (p_loss * self.switch.train_on).backward()
        self.opt_p.step()
        p_accuracy = (logits.detach().argmax(1) == made_by).float().mean()

        self.D.requires_grad_(False)
        self.P.requires_grad_(False)
        y = labels[-1] if self.conditional else None
        z = self.noise(real[-1])
        g_loss = 0.0
        for k in range(n_groups):
            fake = Gs[k](z, y)
            g_loss = g_loss + self.objective.g_loss(Ds[k](fake, y))
            g_loss = g_loss + self.lam * self.switch.penalty_on * fool_loss(
                self.P(fake), torch.full_like(made_by[:batch], k), n_groups
            )
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        penalty = torch.zeros_like(d_loss) if penalty is None else penalty
        return torch.stack([d_loss.detach(), g_loss.detach(), penalty.detach(), p_loss.detach(), p_accuracy])


class PrivGAN(GroupClassifierMechanism):
    classifier_key = "P"

    def steps_per_epoch(self, n_members: int, batch_size: int, n_critic: int) -> int:
        return max(1, (n_members // self.n_codes) // batch_size // n_critic)

    def build_models(self, model, image_size: int, channels: int, n_classes: int):
        pairs = [model.build(image_size, channels, n_classes) for _ in range(self.n_codes)]
        self.classifier = model.build_classifier(self.n_codes)
        return GeneratorSet([g for g, _ in pairs]), DiscriminatorSet([d for _, d in pairs])

    def make_step(self, G, D, objective, regularizer, ctx: StepContext):
        opt_p = self.prepare_classifier(ctx)
        C = ctx.members[2]
        size = int(torch.bincount(C, minlength=self.n_codes).min())
        group_idx = torch.stack([(C == k).nonzero().squeeze(1)[:size] for k in range(self.n_codes)])
        return PrivGANStep.for_context(
            ctx,
            G,
            D,
            objective,
            regularizer,
            self.n_codes,
            P=self.classifier,
            opt_p=opt_p,
            lam=self.lam,
            switch=self.switch,
            group_idx=group_idx,
            members=ctx.members,
        )

    @torch.no_grad()
    def d_views(self, D, x, y):
        return D.views(x, y)
