"""Orthogonal regularization (Brock et al., BigGAN form; Wu Sec. 4.3).

penalty = beta * sum over D weight matrices W (rows = output units) of ||W W^T * (1 - I)||_F^2:
it pushes filters towards orthogonality without constraining their norms.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .base import Critic, Regularizer


class Orthonormal(Regularizer):
    def __init__(self, beta: float = 1e-4):
        if not beta > 0:
            raise ConfigError("beta", f"must be > 0, got {beta}")
        self.beta = float(beta)

    def penalty(self, D: nn.Module, critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        total = real.new_zeros(())
        for m in D.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                w = m.weight.flatten(1)
                gram = w @ w.t()
                total = total + (gram * (1 - torch.eye(gram.shape[0], device=w.device, dtype=w.dtype))).pow(2).sum()
        return self.beta * total
