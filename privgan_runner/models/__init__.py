"""GAN architectures: a `GANModel` option builds a generator and a discriminator for a dataset's shape."""

from .base import GANModel

__all__ = ["GANModel"]
