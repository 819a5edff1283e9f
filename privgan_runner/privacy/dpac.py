"""DP-GAN-DPAC (../shared/papers/dp_gan_dpac_poster.txt): GS-WGAN made a 3-player game with an auxiliary
classifier whose utility terms enter G's training, and a classifier trained on real and fake in turn.

The poster gives the design in words only ("adding an auxiliary classifier network to common GAN
architecture (i.e., changing GAN from a 2-player game to a 3-player game)"; "a dual-purpose auxiliary
classifier ... in alignment with both the standard and reversed utility"; "the DPAC alternates between
learning from real and fake data sequentially"). What this file builds from it, each part switchable for
the poster's ablation rows (Table 4):
- one classifier C_k per discriminator, trained on the same member subset (so GS-WGAN's subsampling
  argument still holds: a record reaches G only through the picked pair D_k, C_k);
- `sequential` (w/o seq = false): C_k takes a step on a real batch, then one on a generated batch;
  false: one step on both together;
- `real2gen` (w/o r2g = false): G is also trained to make samples that C_k, having learned real records,
  classifies as their labels: cross-entropy(C_k(G(z, y)), y) -- the reversed utility, classifier trained
  on real and tested on generated;
- `gen2real` (w/o g2r = false): the standard utility, classifier trained on generated and tested on real,
  made differentiable by one look-ahead step: C_k' = C_k - lr * grad cross-entropy(C_k(G(z, y)), y), and
  G is trained to lower C_k''s cross-entropy on a real batch of the subset;
- `warm_start_steps` (w/o init = 0): the discriminators and classifiers are pretrained on their subsets.
Every term's gradient with respect to a generated sample is summed with the discriminator's and sanitized
as one row (GS-WGAN), so the accounting is GS-WGAN's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from ..errors import ConfigError
from ..training.step import StepContext, frozen_statistics
from .gswgan import GSWGAN, GSWGANStep


class DPACStep(GSWGANStep):
    loss_names = ("d_loss", "g_loss", "penalty", "c_loss", "r2g_loss", "g2r_loss")

    def __init__(self, *args, classifiers: nn.ModuleList, opt_c, **kwargs):
        super().__init__(*args, **kwargs)
        self.classifiers, self.opt_c = classifiers, opt_c

    def optimizers(self) -> dict:
        return {**super().optimizers(), "opt_c": self.opt_c}

    def train_classifier(self, k: int) -> torch.Tensor:
        C_k, m = self.classifiers[k], self.mechanism
        if not len(self.subsets[k]):  # an empty subset's classifier never trains
            return torch.zeros((), device=self.members[0].device)
        C_k.requires_grad_(True)
        x, y = self.subset_batch(k)
        y_fake = self.fake_labels(x, None)
        with torch.no_grad(), frozen_statistics(self.G):  # G learns only in its sanitized step
            fake = self.G(self.noise(x), y_fake)
        if m.sequential:  # real, then fake: two steps
            losses = []
            for inputs, labels in ((x, y), (fake, y_fake)):
                loss = F.cross_entropy(C_k(inputs), labels)
                self.opt_c.zero_grad(set_to_none=True)
                loss.backward()
                self.opt_c.step()
                losses.append(loss.detach())
            c_loss = torch.stack(losses).mean()
        else:
            c_loss = F.cross_entropy(C_k(torch.cat([x, fake])), torch.cat([y, y_fake]))
            self.opt_c.zero_grad(set_to_none=True)
            c_loss.backward()
            self.opt_c.step()
            c_loss = c_loss.detach()
        C_k.requires_grad_(False)
        return c_loss

    def g_terms(self, k, fake, y):
        g_sum, _ = super().g_terms(k, fake, y)
        m, C_k, n = self.mechanism, self.classifiers[k], fake.shape[0]
        c_loss = self.train_classifier(k)
        r2g = F.cross_entropy(C_k(fake), y) if m.real2gen else fake.new_zeros(())
        g2r = self.look_ahead_real_loss(k, fake, y) if m.gen2real and len(self.subsets[k]) else fake.new_zeros(())
        total = g_sum + n * (m.real2gen_weight * r2g + m.gen2real_weight * g2r)  # sums of per-sample terms
        return total, [c_loss, r2g.detach(), g2r.detach()]

    def look_ahead_real_loss(self, k: int, fake, y) -> torch.Tensor:
        """C_k's loss on a real batch of its subset after one SGD step on the generated batch, differentiable
        with respect to the generated samples (gen2real: trained on generated, tested on real)."""
        C_k = self.classifiers[k]
        params = {name: p.detach().requires_grad_(True) for name, p in C_k.named_parameters()}
        on_fake = F.cross_entropy(functional_call(C_k, params, (fake,)), y)
        grads = torch.autograd.grad(on_fake, list(params.values()), create_graph=True)
        lr = self.mechanism.look_ahead_lr
        stepped = {name: p - lr * g for (name, p), g in zip(params.items(), grads)}
        x, y_real = self.subset_batch(k)
        return F.cross_entropy(functional_call(C_k, stepped, (x,)), y_real)

    def __call__(self, real, labels, codes):
        m = self.mechanism
        if not m.warm_started:  # the classifiers' pretraining, beside the discriminators' (GSWGANStep)
            for j in range(len(self.subsets)):
                for _ in range(m.warm_start_steps):
                    self.train_classifier(j)
        return super().__call__(real, labels, codes)


class DPAC(GSWGAN):
    name = "dpac"
    step_class = DPACStep

    def __init__(
        self,
        *args,
        gen2real: bool = True,
        real2gen: bool = True,
        sequential: bool = True,
        gen2real_weight: float = 1.0,
        real2gen_weight: float = 1.0,
        look_ahead_lr: float = 0.1,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        for key, value in (("gen2real_weight", gen2real_weight), ("real2gen_weight", real2gen_weight)):
            if not value >= 0:
                raise ConfigError(key, f"must be >= 0, got {value!r}")
        if not look_ahead_lr > 0:
            raise ConfigError("look_ahead_lr", f"must be > 0, got {look_ahead_lr!r}")
        self.gen2real, self.real2gen, self.sequential = bool(gen2real), bool(real2gen), bool(sequential)
        self.gen2real_weight, self.real2gen_weight = float(gen2real_weight), float(real2gen_weight)
        self.look_ahead_lr = float(look_ahead_lr)

    def check(self, n_members: int, trainer, regularizer=None, **setting) -> None:
        if not setting.get("conditional"):
            raise ConfigError(
                "model.conditional", "dpac's auxiliary classifier learns the class labels: use a conditional model"
            )
        super().check(n_members, trainer, regularizer, **setting)

    def build_models(self, model, image_size: int, channels: int, n_classes: int):
        G, D = super().build_models(model, image_size, channels, n_classes)
        self.classifiers = nn.ModuleList([model.build_classifier(n_classes) for _ in range(self.n_discriminators)])
        return G, D

    def step_kwargs(self, ctx: StepContext) -> dict:
        self.classifiers.to(ctx.device)
        opt_c = ctx.make_optimizer(self.classifiers.parameters(), capturable=False)
        return {**super().step_kwargs(ctx), "classifiers": self.classifiers, "opt_c": opt_c}

    def state(self) -> dict[str, Any]:
        return {**super().state(), "classifiers": self.classifiers.state_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        if "classifiers" in state:
            self.classifiers.load_state_dict(state["classifiers"])

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            gen2real=self.gen2real,
            real2gen=self.real2gen,
            sequential=self.sequential,
            gen2real_weight=self.gen2real_weight,
            real2gen_weight=self.real2gen_weight,
            look_ahead_lr=self.look_ahead_lr,
        )
        out["not_covered"] = [*out["not_covered"], "the auxiliary classifiers: trained on the members, not released"]
        return out
