"""No regularization: the plain GAN of Wu et al.'s "Original" rows."""

from .base import Regularizer


class NoRegularizer(Regularizer):
    pass
