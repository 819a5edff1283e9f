"""Wasserstein GAN (phi = identity): D is a critic with an unbounded real output."""

from __future__ import annotations

import torch

from .base import Objective


class Wasserstein(Objective):
    def real_record_loss(self, real: torch.Tensor) -> torch.Tensor:
        return -real

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return fake.mean() - real.mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return -fake.mean()

    def score(self, out: torch.Tensor) -> torch.Tensor:
        return out.double()  # the critic's raw output
