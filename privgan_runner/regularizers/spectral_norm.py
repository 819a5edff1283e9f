"""Spectral normalization (Miyato et al. 2018) of every D layer with weights (conv and linear).

Batch normalization in D rescales each layer by 1 / (batch std) * gamma, which undoes the spectral
bound, so by default D's BatchNorm layers are removed (SN-GAN's discriminator has none);
`remove_batchnorm: false` keeps them.
"""

from __future__ import annotations

import torch.nn as nn
from torch.nn.utils.parametrizations import spectral_norm

from ..errors import ConfigError
from .base import Regularizer, replace_batchnorm


class SpectralNorm(Regularizer):
    reparametrizes_weights = True

    def __init__(self, n_power_iterations: int = 1, remove_batchnorm: bool = True):
        if not isinstance(n_power_iterations, int) or n_power_iterations < 1:
            raise ConfigError("n_power_iterations", f"must be a positive integer, got {n_power_iterations!r}")
        self.n_power_iterations = n_power_iterations
        self.remove_batchnorm = bool(remove_batchnorm)

    def wrap(self, D: nn.Module) -> nn.Module:
        if self.remove_batchnorm:
            replace_batchnorm(D, lambda channels: nn.Identity())
        layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
        for m in layers:
            spectral_norm(m, n_power_iterations=self.n_power_iterations)
        return D
