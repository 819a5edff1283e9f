"""scikit-learn's bundled handwritten digits (1,797 real 8x8 images, 10 classes): the embedded default."""

from __future__ import annotations

from .base import ImageDataset, ImagePool, to_pool


class Digits(ImageDataset):
    channels = 1
    n_classes = 10

    def load(self) -> ImagePool:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return to_pool(
            bunch.images,
            bunch.target,
            self.image_size,
            self.n_classes,
            max_value=16.0,
            source="sklearn.datasets.load_digits",
        )
