"""Shared test helpers: compose the real configs (as users get them) and shrink them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

import privgan_runner  # noqa: F401  (registers resolvers)

REPO = Path(__file__).resolve().parents[1]

# metric backbones and real-data statistics are cached on disk: keep the tests' copies out of $HOME
os.environ.setdefault("PRIVGAN_RUNNER_CACHE", tempfile.mkdtemp(prefix="privgan-runner-test-cache-"))
CONF = REPO / "conf"

#: a run small enough for a test: synthetic 16x16 data, a narrow DCGAN, a few epochs
#: the smoke experiment on the CPU, one thread, batch 16 as the fault and Slurm tests were sized with (smoke's
#: own is 8)
SMOKE = [
    "+experiment=smoke",
    "trainer.batch_size=16",
    "trainer.progress=false",
    "trainer.device=cpu",
    "trainer.threads=1",
]
TINY = [
    "dataset=synthetic",
    "dataset.n_samples=64",
    "model.width=8",
    "model.z_dim=16",
    "trainer.epochs=2",
    "trainer.batch_size=8",
    "trainer.progress=false",
    "trainer.log_every=4",
    "attack.white_box.bootstrap=20",
    "attack.top_m.bootstrap=20",
]


def compose_config(*overrides: str):
    with initialize_config_module(config_module="privgan_runner.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def run_cli(*args: str, cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    """The command in its own session; on a timeout (or any failure here) its whole process group is killed,
    launcher workers included, so a hung test leaves nothing running."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "privgan_runner", *args]
    proc = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group: workers may outlive the main process
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


@pytest.fixture
def tiny_run(tmp_path):
    """Run the pipeline on a tiny config in tmp_path; returns (results, run_dir)."""
    from privgan_runner import pipeline

    def _run(*overrides: str, run_dir: Path | None = None):
        cfg = compose_config(*TINY, *overrides)
        out = run_dir or tmp_path / "run"
        return pipeline.run(cfg, run_dir=out), out

    return _run
