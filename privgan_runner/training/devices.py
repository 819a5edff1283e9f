"""Where and on how many threads a job trains: the device `trainer.device` names (one GPU per parallel local
job under `auto`), the Hydra launcher's parallel local jobs that share this machine's cores, and whether the
memory torch frees on the CPU stays in the process (`keep_freed_memory`)."""

from __future__ import annotations

import ctypes
import os
import platform

import torch

from ..errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", job_number() % torch.cuda.device_count())  # one GPU per parallel job
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("trainer.device", f"{name!r} was asked for, but CUDA is not available here")
    return device


def parallel_local_jobs() -> int:
    """How many jobs the Hydra launcher runs at once on this machine (joblib's n_jobs; 1 otherwise)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return 1
        n_jobs = HydraConfig.get().launcher.get("n_jobs")
    except Exception:  # no launcher config outside a multirun
        return 1
    if not isinstance(n_jobs, int) or n_jobs == 0:
        return 1
    return os.cpu_count() or 1 if n_jobs < 0 else n_jobs


def job_number() -> int:
    try:
        from hydra.core.hydra_config import HydraConfig

        return int(HydraConfig.get().job.num) if HydraConfig.initialized() else 0
    except Exception:  # job.num is unset outside a multirun
        return 0


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
# blocks up to this size come from the heap, larger ones are still mapped and unmapped: at 32 MiB Opacus' per-sample
# gradients of DCGAN's second layer (32 MiB and a header at 16x16, batch 64) stayed mapped: 4.7x the plain update,
# against 2.6x
HEAP_BLOCKS_UP_TO = 256 * 2**20
_kept: bool | None = None


def keep_freed_memory() -> bool:
    """Keep CPU memory that torch frees in this process for its next allocation, instead of handing it back to the
    operating system (glibc's mallopt: blocks up to 256 MiB come from the heap, whose top is not trimmed). A training
    step allocates and frees buffers of a few MiB many times; handed back, each is page-faulted in again at its next
    use. On a 2-core CPU (`scripts/bench.py --privacy dpsgd`, DCGAN width 64, batch 64, 16x16) this took the fast
    DP-SGD D update from 1.51x to 1.27x the plain one (Opacus' hooks: 5.1x to 2.7x) and left the plain update as it
    was. The price: the process keeps its peak memory until it ends. Once per process; False where the C library
    is not glibc (nothing changed)."""
    global _kept
    if _kept is None:
        _kept = False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            libc = ctypes.CDLL(None)
            _kept = bool(libc.mallopt(M_MMAP_THRESHOLD, HEAP_BLOCKS_UP_TO)) and bool(
                libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
            )
    return _kept
