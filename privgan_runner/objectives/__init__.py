"""GAN objectives: small pure loss functions on discriminator logits."""

from .base import Objective

__all__ = ["Objective"]
