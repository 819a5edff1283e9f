"""Gradient penalty (WGAN-GP, Gulrajani et al. 2017): weight * (||grad_x D(x_hat)|| - 1)^2 on interpolates.

The penalty is on each record's own input gradient, which batch normalization mixes across the
batch; as the WGAN-GP paper recommends, D's BatchNorm layers become layer normalization
(`batchnorm_to_layernorm: false` keeps them).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .base import Critic, Regularizer, replace_batchnorm


class GradientPenalty(Regularizer):
    needs_double_backward = True

    def __init__(self, weight: float = 10.0, batchnorm_to_layernorm: bool = True):
        if not weight > 0:
            raise ConfigError("weight", f"must be > 0, got {weight}")
        self.weight = float(weight)
        self.batchnorm_to_layernorm = bool(batchnorm_to_layernorm)

    def wrap(self, D: nn.Module) -> nn.Module:
        if self.batchnorm_to_layernorm:
            replace_batchnorm(D, lambda channels: nn.GroupNorm(1, channels))  # LayerNorm over (C, H, W)
        return D

    def penalty(self, D: nn.Module, critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        x_hat = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        return self.weight * (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()
