"""The arithmetic a training step runs in: `trainer.precision`.

- fp32: float32 throughout, TF32 off (CUDA convolutions and matmuls round to float32's 24-bit mantissa).
- tf32: float32 tensors, CUDA matmuls and convolutions in TF32 (10-bit mantissa inputs, float32
  accumulation); on a CPU there is no TF32, so it runs as fp32 and results say fp32.
- bf16: the whole step under `torch.autocast(dtype=bfloat16)` -- forwards and losses in bfloat16 where
  autocast casts (convolutions, matmuls), float32 where it keeps them (losses, norms); backward follows
  the forward's dtypes, parameters and Adam's moments stay float32. On CUDA the autocast is inside the
  captured graph. Works on a CPU too (slower than fp32 there unless the CPU has bf16 units).

Only training is affected: attacks and metrics score in float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from ..errors import ConfigError

PRECISIONS = ("fp32", "tf32", "bf16")


def check_precision(name: str) -> str:
    if name not in PRECISIONS:
        raise ConfigError("precision", f"must be one of {', '.join(PRECISIONS)}, got {name!r}")
    return name


def effective_precision(name: str, device: torch.device) -> str:
    """What a run at `name` on `device` really computes in (tf32 exists on CUDA only)."""
    return "fp32" if name == "tf32" and device.type != "cuda" else name


@contextlib.contextmanager
def tf32_scope(enabled: bool):
    """TF32 for CUDA matmuls and convolutions inside the block only; the previous settings come back after."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


class Autocast:
    """A training step run under bfloat16 autocast (captured with it on CUDA)."""

    def __init__(self, step: Callable, device_type: str):
        self.step, self.device_type = step, device_type
        self.loss_names = step.loss_names

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            return self.step(*inputs)


def in_precision(step: Callable, name: str, device: torch.device) -> Callable:
    """The step to run at precision `name`: itself, or wrapped in autocast for bf16."""
    return Autocast(step, device.type) if name == "bf16" else step
