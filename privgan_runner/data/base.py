"""The dataset kind: a pool of images in [-1, 1] with class labels, split later into members etc."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError, DatasetNotFoundError

if TYPE_CHECKING:
    import torch

DEFAULT_ROOT = "data"  # where datasets are looked for when dataset.root is not given


@dataclass
class ImagePool:
    """Every record a run may use; `membership.npz` indexes into it."""

    images: torch.Tensor  # float32 [N, C, H, W] in [-1, 1]
    labels: torch.Tensor  # int64 [N]
    n_classes: int
    #: who each record belongs to (e.g. IDC's patient): members and non-members never share a group
    groups: np.ndarray | None = None
    #: a provider's partition: the groups whose records are the members (None = draw from the seed)
    member_groups: np.ndarray | None = None
    #: where the records came from (the folder the files were found in, or the package that ships them)
    source: str = ""

    _digest: str | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def content_hash(self) -> str:
        """SHA-256 of the images and labels as loaded (shape, dtype, values): what results.json records and
        every cache built from the pool is keyed by, so two pools that share a name never share a cache."""
        if self._digest is None:
            h = hashlib.sha256()
            for t in (self.images, self.labels):
                a = np.ascontiguousarray(t.detach().cpu().numpy())
                h.update(f"{a.dtype}{a.shape}".encode())
                h.update(memoryview(a).cast("B"))
            self._digest = h.hexdigest()
        return self._digest


class ImageDataset:
    """A dataset option. Subclasses set `channels` and `n_classes` and implement `load`.

    `image_size` and `channels` are known before loading, so the model can be built (and the config
    validated) without touching the disk.
    """

    channels: int = 1
    n_classes: int = 0
    name: str = ""

    def __init__(self, image_size: int, root: str | None = None):
        if not isinstance(image_size, int) or isinstance(image_size, bool) or not 8 <= image_size <= 1024:
            raise ConfigError("image_size", f"must be an integer in [8, 1024], got {image_size!r}")
        self.image_size = image_size
        self.root = root

    @property
    def root_folder(self) -> Path:
        """`dataset.root`, or ./data when it is not given."""
        return Path(self.root or DEFAULT_ROOT).expanduser()

    def fallback_folders(self, *folders) -> list[Path]:
        """Further places to look (a system package, a library's cache) only when no `dataset.root` was given:
        a root the user names is the only place looked in, so a wrong one is refused, never silently replaced."""
        return [] if self.root is not None else [Path(f).expanduser() for f in folders]

    def load(self) -> ImagePool:
        raise NotImplementedError


def to_pool(
    pixels: np.ndarray, labels: np.ndarray, image_size: int, n_classes: int, max_value: float, source: str = ""
) -> ImagePool:
    """uint8/float pixels [N, H, W] or [N, H, W, C] in [0, max_value] -> pool in [-1, 1] at image_size."""
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(np.ascontiguousarray(pixels), dtype=torch.float32)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    else:
        x = x.permute(0, 3, 1, 2)
    x = x / max_value * 2.0 - 1.0
    if x.shape[-1] != image_size or x.shape[-2] != image_size:
        x = F.interpolate(
            x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=x.shape[-1] > image_size
        ).clamp_(-1.0, 1.0)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    return ImagePool(images=x.contiguous(), labels=y, n_classes=n_classes, source=source)


def not_found(what: str, folders, how_to_get: str, *extra_lines: str) -> DatasetNotFoundError:
    """The error for a dataset that is not on disk: what was looked for, every place looked in, how to get it."""
    looked = "\n".join([f"  - {f}" for f in folders] + [f"  - {line}" for line in extra_lines])
    return DatasetNotFoundError(f"{what} Looked in:\n{looked}\nTo get it: {how_to_get}")


def center_crop_resize(path, crop: int, size: int) -> np.ndarray:
    """An image file as uint8 RGB [size, size, 3]: the central crop x crop square, resized (bicubic)."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        w, h = img.size
        c = min(crop, w, h)
        left, top = (w - c) // 2, (h - c) // 2
        img = img.crop((left, top, left + c, top + c)).resize((size, size), Image.BICUBIC)
        return np.asarray(img, dtype=np.uint8)
