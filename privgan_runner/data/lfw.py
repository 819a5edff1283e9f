"""Labeled Faces in the Wild (13,233 face images of 5,749 people): Wu et al.'s first dataset.

Read from a folder of `<Name>/<Name>_NNNN.jpg` -- the original `lfw`, `lfw-funneled` / `lfw_funneled`
or `lfw-deepfunneled` trees -- found under `dataset.root` directly or in torchvision's
(`<root>/lfw-py/...`) or scikit-learn's (`~/scikit_learn_data/lfw_home/...`) cache layouts.
torchvision's own class insists on the original archive, which many users no longer have, so the
tree is read directly. Each 250x250 image is center-cropped to `crop` pixels and resized to
`image_size` (Wu: 64x64), RGB in [-1, 1]. Records are sorted by path, so indices are stable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import ImageDataset, ImagePool, center_crop_resize, not_found, to_pool

TREES = ("lfw", "lfw-funneled", "lfw_funneled", "lfw-deepfunneled")


class LFW(ImageDataset):
    channels = 3
    n_classes = 0  # identities are not classes a GAN is conditioned on

    def __init__(self, image_size: int = 64, root: str | None = None, crop: int = 150):
        super().__init__(image_size, root)
        self.crop = crop

    def candidate_folders(self) -> list[Path]:
        root = self.root_folder
        bases = [root, root / "lfw-py", *self.fallback_folders("~/scikit_learn_data/lfw_home")]
        return [root] + [base / tree for base in bases for tree in TREES]

    def locate(self) -> list[Path] | None:
        for folder in self.candidate_folders():
            if folder.is_dir():
                files = sorted(folder.glob("*/*_[0-9][0-9][0-9][0-9].jpg"))
                if files:
                    return files
        return None

    def load(self) -> ImagePool:
        files = self.locate()
        if files is None:
            raise not_found(
                "lfw: no <Name>/<Name>_NNNN.jpg images found (expected <folder>/<Name>/<Name>_0001.jpg: "
                "lfw, lfw-funneled or lfw-deepfunneled).",
                self.candidate_folders(),
                "download lfw.tgz (or lfw-deepfunneled.tgz) from https://vis-www.cs.umass.edu/lfw/ and "
                "unpack it under dataset.root.",
            )
        pixels = [center_crop_resize(path, self.crop, self.image_size) for path in files]
        identity = {name: i for i, name in enumerate(sorted({p.parent.name for p in files}))}
        labels = np.array([identity[p.parent.name] for p in files])
        return to_pool(
            np.stack(pixels),
            labels,
            self.image_size,
            self.n_classes,
            max_value=255.0,
            source=str(files[0].parent.parent),
        )
