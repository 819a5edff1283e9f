"""`python -m tests.helpers.killed_job RUN_DIR [K] OVERRIDE...`: run a job in RUN_DIR; with K, the process
SIGKILLs itself halfway through writing its K-th checkpoint (the bytes so far are on disk), as a node lost
during the write leaves it."""

from __future__ import annotations

import os
import signal
import sys

import torch

from privgan_runner.pipeline import run

from ..conftest import compose_config


def die_in_write(k: int) -> None:
    save, calls = torch.save, []

    def half_then_die(obj, path, *args, **kwargs):
        calls.append(path)
        if len(calls) < k:
            return save(obj, path, *args, **kwargs)
        save(obj, path, *args, **kwargs)
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
            f.flush()
            os.fsync(f.fileno())
        os.kill(os.getpid(), signal.SIGKILL)

    torch.save = half_then_die


if __name__ == "__main__":
    run_dir, k, *overrides = sys.argv[1:]
    if k != "-":
        die_in_write(int(k))
    torch.set_num_threads(1)
    run(compose_config(*overrides), run_dir=run_dir)
