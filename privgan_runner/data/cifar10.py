"""CIFAR-10 (60,000 32x32 colour images, 10 classes; train + test pooled), the PIGAN paper's second dataset.

Read from the python-version batches in torchvision's layout, <root>/cifar-10-batches-py/
{data_batch_1..5, test_batch} (pickles of {"data": uint8 [N, 3072], "labels": [N]}); the batches may
also sit directly in `root`. `download: true` lets torchvision fetch them where a network exists.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .base import ImageDataset, ImagePool, not_found, to_pool

BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


class CIFAR10(ImageDataset):
    channels = 3
    n_classes = 10

    def __init__(self, image_size: int = 32, root: str | None = None, download: bool = False):
        super().__init__(image_size, root)
        self.download = download

    def candidate_folders(self) -> list[Path]:
        return [self.root_folder / "cifar-10-batches-py", self.root_folder]

    def locate(self) -> Path | None:
        return next((f for f in self.candidate_folders() if all((f / b).is_file() for b in BATCHES)), None)

    def load(self) -> ImagePool:
        folder = self.locate()
        why = "download is off (dataset.download=false)"
        if folder is None and self.download:
            try:
                import torchvision.datasets as tvd

                tvd.CIFAR10(str(self.root_folder), train=True, download=True)
                why = "downloaded, but the batches were not found afterwards"
            except Exception as exc:  # no network: say so
                why = f"{type(exc).__name__}: {exc}"
            folder = self.locate()
        if folder is None:
            raise not_found(
                f"cifar10: the python-version batches {', '.join(BATCHES)} were not found.",
                self.candidate_folders(),
                "unpack cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) under "
                "dataset.root, or set dataset.download=true on a machine with a network.",
                f"torchvision download into dataset.root: {why}",
            )
        data, labels = [], []
        for name in BATCHES:
            with open(folder / name, "rb") as f:
                batch = pickle.load(f, encoding="latin1")
            data.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.extend(batch["labels"])
        return to_pool(
            np.concatenate(data),
            np.asarray(labels),
            self.image_size,
            self.n_classes,
            max_value=255.0,
            source=str(folder),
        )
