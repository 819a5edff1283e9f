"""Atomic file writes: a reader (or a killed job) never sees a half-written file.

Each file is written to a temporary file beside it, flushed to disk (fsync), given the permissions the
user's umask asks for (a temporary file is created 0600; a run folder on a shared cluster must be
readable by the group when the umask says so), then renamed over the target.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _json_safe(value: Any) -> Any:
    """NaN / inf are not JSON: they become null (the figure could not be computed)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy / torch scalars
        return _json_safe(value.item())
    return value


def write_json(path: Path, data: dict) -> Path:
    text = json.dumps(_json_safe(data), indent=2, allow_nan=False)
    return _atomic(path, lambda tmp: tmp.write_text(text + "\n"))


def write_text(path: Path, text: str) -> Path:
    return _atomic(path, lambda tmp: tmp.write_text(text))


def write_npz(path: Path, **arrays) -> Path:
    import numpy as np

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    return _atomic(path, write)


def write_torch(path: Path, obj: Any) -> Path:
    """torch.save into memory, then an ordinary file write: a full disk raises OSError (ENOSPC) like every
    other write here, where torch's own file writer raises a RuntimeError that names no cause."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return _atomic(path, lambda tmp: tmp.write_bytes(buffer.getbuffer()))


def read_torch(path: Path, required: tuple[str, ...]) -> dict:
    """A dict written by write_torch, on the CPU; KeyError when one of `required` is missing (a file of
    another kind). A damaged file raises whatever torch.load meets (a truncated zip, a bad pickle)."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)
    missing = [k for k in required if k not in state]
    if missing:
        raise KeyError(f"no {', '.join(missing)}")
    return state


def write_figure(path: Path, fig) -> Path:
    suffix = Path(path).suffix.lstrip(".") or "png"

    def write(tmp: Path) -> None:
        fig.savefig(tmp, format=suffix, dpi=120, bbox_inches="tight")

    return _atomic(path, write)
