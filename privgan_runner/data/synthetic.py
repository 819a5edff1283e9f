"""Procedurally generated images of any size and channel count, for tests and smoke runs.

Class k is a bright blob at a class-specific place on a textured background; every record also
gets its own random texture, so a memorizing model has something record-specific to memorize.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from .base import ImageDataset, ImagePool, to_pool


class Synthetic(ImageDataset):
    def __init__(
        self,
        image_size: int,
        channels: int = 1,
        n_classes: int = 10,
        n_samples: int = 512,
        generator_seed: int = 1234,
        root: str | None = None,
    ):
        super().__init__(image_size, root)
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ConfigError("channels", f"must be 1 (grey) or 3 (colour), got {channels!r}")
        for key, value, low, high in (
            ("n_classes", n_classes, 1, 1000),
            ("n_samples", n_samples, 4, 10**7),  # beyond: more images than any memory holds at these sizes
            ("generator_seed", generator_seed, 0, 2**63 - 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ConfigError(key, f"must be an integer in [{low}, {high}], got {value!r}")
        self.channels, self.n_classes, self.n_samples = channels, n_classes, n_samples
        self.generator_seed = generator_seed

    def load(self) -> ImagePool:
        rng = np.random.default_rng(self.generator_seed)
        s, n = self.image_size, self.n_samples
        labels = rng.integers(0, self.n_classes, size=n)
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / (s - 1)
        angle = 2 * math.pi * labels / self.n_classes
        cx = 0.5 + 0.3 * np.cos(angle)[:, None, None]
        cy = 0.5 + 0.3 * np.sin(angle)[:, None, None]
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.02)
        texture = rng.uniform(0.0, 0.35, size=(n, s, s, self.channels))
        tint = rng.uniform(0.6, 1.0, size=(n, 1, 1, self.channels))
        pixels = np.clip(blob[..., None] * tint + texture, 0.0, 1.0).astype(np.float32)
        return to_pool(
            pixels, labels, s, self.n_classes, max_value=1.0, source=f"generated (generator_seed {self.generator_seed})"
        )
