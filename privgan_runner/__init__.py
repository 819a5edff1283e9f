"""privgan_runner: train a GAN, attack it for membership, measure the leak.

Importing the package is light (omegaconf only, no torch): config errors and `--help` answer at once.
"""

from . import config as _config  # noqa: F401  (registers the config resolvers)

__version__ = "0.1.0"


def run(cfg_or_overrides=(), run_dir=None):
    """Run an experiment from Python (see privgan_runner.api.run)."""
    from .api import run as _run

    return _run(cfg_or_overrides, run_dir)


def load_run(path):
    """Read a run folder back (see privgan_runner.api.load_run)."""
    from .api import load_run as _load_run

    return _load_run(path)
