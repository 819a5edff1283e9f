"""Datasets: one file per dataset, each an `ImageDataset` that loads an `ImagePool`."""

from .base import ImageDataset, ImagePool

__all__ = ["ImageDataset", "ImagePool"]
