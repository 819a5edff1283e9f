"""Metrics of generalization, fidelity and utility, computed from a trained GAN."""

from .base import Metric

__all__ = ["Metric"]
