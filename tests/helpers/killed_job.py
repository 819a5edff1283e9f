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
    """The k-th torch file write (checkpoints are written through io.write_torch) puts half its bytes in its
    temporary file, syncs them and SIGKILLs the process."""
    import io

    from privgan_runner import io as files

    real, calls = files.write_torch, []

    def half_then_die(path, obj):
        calls.append(path)
        if len(calls) < k:
            return real(path, obj)
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        data = buffer.getvalue()

        def write(tmp):
            with open(tmp, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)

        return files._atomic(path, write)

    files.write_torch = half_then_die


if __name__ == "__main__":
    run_dir, k, *overrides = sys.argv[1:]
    if k != "-":
        die_in_write(int(k))
    torch.set_num_threads(1)
    run(compose_config(*overrides), run_dir=run_dir)
