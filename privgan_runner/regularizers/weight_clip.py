"""Weight clipping (Arjovsky et al. 2017): every D parameter clamped to [low, high] after each D step."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .base import Regularizer


class WeightClip(Regularizer):
    def __init__(self, low: float = -0.01, high: float = 0.01):
        if not low < high:
            raise ConfigError("low", f"the interval [{low}, {high}] is empty: low must be < high")
        self.low, self.high = float(low), float(high)

    @torch.no_grad()
    def after_d_step(self, D: nn.Module) -> None:
        for p in D.parameters():
            p.clamp_(self.low, self.high)
