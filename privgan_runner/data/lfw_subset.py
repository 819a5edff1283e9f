"""The 100 LFW faces that scikit-image ships (`skimage.data.lfw_subset`: 25x25 grayscale face crops).

Real LFW pixels with no download, for running the face protocols (`+experiment=lfw_sn dataset=lfw_subset`)
on a laptop. It is not Wu et al.'s LFW (13,233 faces at 64x64): a 50-face member set is for checking a
pipeline and for quick demonstrations, not for comparing with the paper.
"""

from __future__ import annotations

import numpy as np

from .base import ImageDataset, ImagePool, not_found, to_pool

N_FACES = 100  # the array holds 100 faces, then 100 non-face background crops


class LFWSubset(ImageDataset):
    channels = 1
    n_classes = 1

    def load(self) -> ImagePool:
        try:
            from skimage import data
        except ImportError:
            raise not_found(
                "The LFW subset comes with scikit-image, which is not installed.",
                ["the Python environment (import skimage)"],
                "pip install scikit-image",
            ) from None
        faces = data.lfw_subset()[:N_FACES]
        return to_pool(
            faces,
            np.zeros(N_FACES, dtype=np.int64),
            self.image_size,
            self.n_classes,
            max_value=1.0,
            source="skimage.data.lfw_subset",
        )
