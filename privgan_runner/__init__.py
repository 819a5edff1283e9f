"""privgan_runner: train a GAN, attack it for membership, measure the leak.

Importing the package is light (omegaconf only, no torch): config errors and `--help` answer at once.
"""
from . import config as _config  # noqa: F401  (registers the config resolvers)

__version__ = "0.1.0"
