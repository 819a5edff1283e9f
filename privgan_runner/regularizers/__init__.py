"""Lipschitz regularizers of the discriminator: wrap it, add a penalty, or act after its step."""

from .base import Regularizer

__all__ = ["Regularizer"]
