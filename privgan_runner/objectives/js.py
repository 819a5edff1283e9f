"""Jensen-Shannon GAN (phi = log): D outputs a logit, d(x) = sigmoid(logit); non-saturating G loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .base import Objective


class JS(Objective):
    score_range = (0.0, 1.0)  # d(x) = sigmoid(logit)

    def __init__(self, real_label: float = 1.0):
        if not 0.5 < real_label <= 1.0:
            raise ConfigError("real_label", f"must be in (0.5, 1] (one-sided label smoothing), got {real_label}")
        self.real_label = real_label

    def real_record_loss(self, real: torch.Tensor) -> torch.Tensor:
        # BCE(sigmoid(logit), real_label); with real_label = 1 this is -log d(x)
        return F.binary_cross_entropy_with_logits(real, torch.full_like(real, self.real_label), reduction="none")

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return self.real_record_loss(real).mean() + F.softplus(fake).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake).mean()  # -log d(G(z)): the non-saturating loss

    def score(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out.double())

    def rank(self, out: torch.Tensor) -> torch.Tensor:
        """The logit: d(x)'s order without its saturation (a float32 sigmoid is exactly 1 from logit 17 on, a
        float64 one from 37 on)."""
        return out.double()

    def rank_of_score(self, value: float) -> float:
        return math.log(value) - math.log1p(-value) if 0 < value < 1 else math.copysign(math.inf, value - 0.5)
