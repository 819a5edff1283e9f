"""Where and on how many threads a job trains: the device `trainer.device` names (one GPU per parallel local
job under `auto`) and the Hydra launcher's parallel local jobs that share this machine's cores."""

from __future__ import annotations

import os

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
