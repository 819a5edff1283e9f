"""CelebA aligned faces (202,599 images): dp-GAN's second dataset.

Read from torchvision's layout, `<root>/celeba/img_align_celeba/*.jpg` (or `img_align_celeba/` directly
under `root`), without torchvision's checksum step (users often have only the image folder). Images are
center-cropped to `crop` (108, the usual DCGAN crop of the 178x218 aligned faces) and resized to
`image_size` (64). Decoded images are held in memory as float32 (48 KiB each at 64x64), so
`max_images` (default 50,000, files in name order) bounds the pool; null takes all.
`download: true` lets torchvision fetch the dataset where a network exists.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .base import ImageDataset, ImagePool, center_crop_resize, not_found, to_pool


class CelebA(ImageDataset):
    channels = 3
    n_classes = 0

    def __init__(
        self,
        image_size: int = 64,
        root: str | None = None,
        crop: int = 108,
        max_images: int | None = 50_000,
        download: bool = False,
    ):
        super().__init__(image_size, root)
        if max_images is not None and (not isinstance(max_images, int) or max_images < 2):
            raise ConfigError("max_images", f"must be null or an integer >= 2, got {max_images!r}")
        self.crop, self.max_images, self.download = crop, max_images, download

    def candidate_folders(self) -> list[Path]:
        return [self.root_folder / "celeba" / "img_align_celeba", self.root_folder / "img_align_celeba"]

    def locate(self) -> list[Path] | None:
        for folder in self.candidate_folders():
            files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
            if files:
                return files[: self.max_images] if self.max_images else files
        return None

    def load(self) -> ImagePool:
        files = self.locate()
        why = "download is off (dataset.download=false)"
        if files is None and self.download:
            try:
                import torchvision.datasets as tvd

                tvd.CelebA(str(self.root_folder), split="all", download=True)
                why = "downloaded, but the images were not found afterwards"
            except Exception as exc:  # no network, or Google Drive's quota: say so
                why = f"{type(exc).__name__}: {exc}"
            files = self.locate()
        if files is None:
            raise not_found(
                "celeba: no img_align_celeba/*.jpg images found.",
                self.candidate_folders(),
                "download img_align_celeba.zip (https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html) and "
                "unpack it as <dataset.root>/celeba/img_align_celeba/, or set dataset.download=true on a "
                "machine with a network.",
                f"torchvision download into dataset.root: {why}",
            )
        pixels = [center_crop_resize(path, self.crop, self.image_size) for path in files]
        return to_pool(
            np.stack(pixels),
            np.zeros(len(files), dtype=np.int64),
            self.image_size,
            self.n_classes,
            max_value=255.0,
            source=str(files[0].parent),
        )
