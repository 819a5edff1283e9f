"""Privacy mechanisms: hooks that change how the GAN is trained (DP-SGD, PIGAN, PrivGAN)."""

from .base import PrivacyMechanism

__all__ = ["PrivacyMechanism"]
