"""Gradient penalty (WGAN-GP, Gulrajani et al. 2017): weight * (||grad_x D(x_hat)|| - 1)^2 on interpolates."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .base import Critic, Regularizer


class GradientPenalty(Regularizer):
    needs_double_backward = True

    def __init__(self, weight: float = 10.0):
        if not weight > 0:
            raise ConfigError("weight", f"must be > 0, got {weight}")
        self.weight = float(weight)

    def penalty(self, D: nn.Module, critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        x_hat = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        return self.weight * (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()
