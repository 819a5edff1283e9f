"""Invasive ductal carcinoma patches (Janowczyk & Madabhushi): Wu et al.'s second dataset.

Layout: `<root>/<patient_id>/<0|1>/*.png` (50x50 patches; 1 = IDC positive), optionally under an
`IDC_regular_ps50_idx5` folder. Only the positive class is used, resized to `image_size` (Wu: 32x32).
Members and non-members are split by patient, never within one: from `split_file` (a CSV with a
header `patient_id,split` and split in {train, test}: the provider's partition, train = members) or,
without one, whole patients drawn from the seed until `member_fraction` of the patches are members.
The patients of each side are saved in membership.npz; counts go to results.json.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DatasetNotFoundError
from .base import ImageDataset, ImagePool, not_found, to_pool


class IDC(ImageDataset):
    channels = 3
    n_classes = 0

    def __init__(self, image_size: int = 32, root: str | None = None, split_file: str | None = None, label: int = 1):
        super().__init__(image_size, root)
        if label not in (0, 1):
            raise ConfigError("label", f"must be 0 or 1 (1 = IDC positive), got {label!r}")
        self.split_file, self.label = split_file, label

    def candidate_folders(self) -> list[Path]:
        root = self.root_folder
        return [root / "IDC_regular_ps50_idx5", root / "idc", root]

    def locate(self) -> list[Path] | None:
        for folder in self.candidate_folders():
            if folder.is_dir():
                files = sorted(folder.glob(f"*/{self.label}/*.png"))
                if files:
                    return files
        return None

    def _provider_partition(self, patients: set[str]) -> np.ndarray:
        path = Path(self.split_file).expanduser()
        if not path.is_file():
            raise DatasetNotFoundError(f"idc: the split file {path} does not exist")
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or {"patient_id", "split"} - set(rows[0]):
            raise ConfigError("dataset.split_file", f"{path} needs a header 'patient_id,split'")
        train = {r["patient_id"] for r in rows if r["split"] == "train"}
        test = {r["patient_id"] for r in rows if r["split"] == "test"}
        if train & test:
            raise ConfigError("dataset.split_file", f"patients in both train and test: {sorted(train & test)[:5]}")
        missing = (train | test) - patients
        if missing:
            raise ConfigError(
                "dataset.split_file",
                f"{len(missing)} listed patients have no patches on disk, e.g. {sorted(missing)[:5]}",
            )
        unlisted = patients - train - test
        if unlisted:
            raise ConfigError(
                "dataset.split_file",
                f"{len(unlisted)} patients on disk are in neither split, e.g. {sorted(unlisted)[:5]}",
            )
        return np.array(sorted(train))

    def load(self) -> ImagePool:
        from PIL import Image

        files = self.locate()
        if files is None:
            raise not_found(
                f"idc: no <patient_id>/{self.label}/*.png patches found (expected "
                "<folder>/<patient_id>/<0|1>/<patch>.png, 50x50 patches).",
                self.candidate_folders(),
                "the 'Breast Histopathology Images' archive (IDC_regular_ps50_idx5), unpacked under dataset.root.",
            )
        pixels = []
        for path in files:
            with Image.open(path) as img:
                img = img.convert("RGB")
                if img.size != (50, 50):  # edge patches can be smaller: pad to 50x50 as the provider's grid
                    canvas = Image.new("RGB", (50, 50), (255, 255, 255))
                    canvas.paste(img, (0, 0))
                    img = canvas
                pixels.append(
                    np.asarray(img.resize((self.image_size, self.image_size), Image.BILINEAR), dtype=np.uint8)
                )
        groups = np.array([p.parent.parent.name for p in files])
        pool = to_pool(
            np.stack(pixels),
            np.zeros(len(files), dtype=np.int64),
            self.image_size,
            self.n_classes,
            max_value=255.0,
            source=str(files[0].parent.parent.parent),
        )
        pool.groups = groups
        if self.split_file:
            pool.member_groups = self._provider_partition(set(groups.tolist()))
        return pool
