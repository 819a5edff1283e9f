"""Experiment trackers: where a run's metrics go besides results.json."""

from .base import Logger

__all__ = ["Logger"]
