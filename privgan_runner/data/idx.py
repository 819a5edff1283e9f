"""The MNIST family's IDX files, found on disk in the layouts users have (or downloaded where possible).

Looked for, in order:
  1. torchvision's layout under `root`:   <root>/<Folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
  2. the same four files directly in `root`, or in a system folder (Debian's dataset packages)
  3. a torchvision download into `root` (only when `download: true` and a network is reachable)
The pool is train + test: membership splits are drawn from all of it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .base import ImageDataset, ImagePool, not_found, to_pool

_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


class IdxDataset(ImageDataset):
    """Base for MNIST-format datasets; subclasses name their folders and how to get the files."""

    channels = 1
    n_classes = 10
    torchvision_folder = ""  # e.g. "FashionMNIST"
    system_folders: tuple[str, ...] = ()
    how_to_get = ""

    def __init__(self, image_size: int = 28, root: str | None = None, download: bool = False):
        super().__init__(image_size, root)
        self.download = download

    def candidate_folders(self) -> list[Path]:
        root = self.root_folder
        return [root / self.torchvision_folder / "raw", root, *self.fallback_folders(*self.system_folders)]

    def locate(self) -> list[Path] | None:
        for folder in self.candidate_folders():
            paths = [_find(folder, stem) for stem in _FILES]
            if all(paths):
                return paths
        return None

    def _torchvision_download(self) -> str | None:
        """Try torchvision's download; returns why it failed, or None."""
        import torchvision.datasets as tvd

        try:
            for train in (True, False):
                getattr(tvd, self.torchvision_folder)(str(self.root_folder), train=train, download=True)
        except Exception as exc:  # no network, a proxy, a checksum: all mean "not here"
            return f"{type(exc).__name__}: {exc}"
        return None

    def load(self) -> ImagePool:
        paths = self.locate()
        why_no_download = "download is off (dataset.download=false)"
        if paths is None and self.download:
            why_no_download = self._torchvision_download() or "downloaded, but the files were not found afterwards"
            paths = self.locate()
        if paths is None:
            raise not_found(
                f"{self.name or self.torchvision_folder}: the IDX files {', '.join(_FILES)} "
                "(optionally .gz) were not found.",
                self.candidate_folders(),
                self.how_to_get,
                f"torchvision download into dataset.root: {why_no_download}",
            )
        train_x, train_y, test_x, test_y = (read_idx(p) for p in paths)
        pixels = np.concatenate([train_x, test_x])
        labels = np.concatenate([train_y, test_y])
        return to_pool(pixels, labels, self.image_size, self.n_classes, max_value=255.0, source=str(paths[0].parent))
