"""The Slurm launcher on a real Slurm: a single-node cluster on this machine (scripts/slurm_local.sh, started by
.ci/run). Skipped, with the reason, where no Slurm answers.

- a 2-job sweep through the `slurm` preset completes and its report is built;
- a job preempted mid-training (its array task signalled as Slurm signals before preemption) is requeued and
  ends with the figures of a run that was never stopped;
- a job that exceeds its time limit (its length measured on this machine first) is signalled before it,
  requeued, and completes from its checkpoint;
- a bad job in the array is recorded failed while the others complete.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import SMOKE, run_cli

pytestmark = pytest.mark.slow

SLURM = [
    "hydra/launcher=slurm",
    "hydra.launcher.partition=debug",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=2",
]


def _slurm_up() -> str | None:
    """Why there is no usable Slurm here, or None."""
    if shutil.which("sinfo") is None:
        return "no Slurm client (scripts/slurm_local.sh start installs and starts a local cluster, as root)"
    states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    if states.returncode != 0 or not any(s in states.stdout for s in ("idle", "mixed", "allocated")):
        return f"Slurm does not answer with an idle node: {states.stdout.strip()} {states.stderr.strip()}"
    return None


@pytest.fixture(scope="module", autouse=True)
def slurm():
    why = _slurm_up()
    if why:
        pytest.skip(why)


def _status(run: Path) -> str:
    return json.loads((run / "status.json").read_text())["status"]


def _results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def test_a_two_job_sweep_completes_and_its_report_is_built(tmp_path):
    sweep = tmp_path / "sweep"
    done = run_cli("-m", *SLURM, *SMOKE, "seed=0,1", f"hydra.sweep.dir={sweep}", cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [_status(sweep / str(i)) for i in (0, 1)] == ["completed", "completed"]
    report = run_cli_report(sweep, tmp_path)
    assert report.returncode == 0 and (sweep / "report" / "report.md").is_file()


def run_cli_report(sweep: Path, cwd: Path) -> subprocess.CompletedProcess:
    import sys

    return subprocess.run([sys.executable, "-m", "privgan_runner.report", str(sweep)], cwd=cwd, capture_output=True)


def test_a_bad_job_in_the_array_is_recorded_failed_and_the_others_complete(tmp_path):
    sweep = tmp_path / "sweep"
    done = run_cli(
        "-m", *SLURM, *SMOKE, "trainer.batch_size=16,100000", f"hydra.sweep.dir={sweep}", cwd=tmp_path, timeout=600
    )
    assert done.returncode != 0  # the sweep says a job failed
    assert _status(sweep / "0") == "completed"
    failed = json.loads((sweep / "1" / "status.json").read_text())
    assert failed["status"] == "failed" and "trainer.batch_size" in failed["message"]


def _array_task(sweep: Path, deadline: float) -> str:
    """The Slurm id of the sweep's running task, once its job has written a checkpoint."""
    resume = sweep / "0" / "checkpoints" / "resume.pt"
    while time.monotonic() < deadline:
        if resume.exists():
            jobs = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True).stdout.split("\n")
            running = [line.split()[0] for line in jobs if line.endswith("RUNNING")]
            if running:
                return running[0]
        time.sleep(0.2)
    raise AssertionError("the job never ran to a checkpoint")


LONG = [*SMOKE, "trainer.epochs=400", "trainer.checkpoint_every=1", "attack=[white_box]", "metric=[gen_gap]"]


def test_a_preempted_job_is_requeued_and_ends_with_the_uninterrupted_figures(tmp_path):
    reference = run_cli(*LONG, f"hydra.run.dir={tmp_path / 'reference'}", cwd=tmp_path, timeout=600)
    assert reference.returncode == 0, reference.stderr[-2000:]
    sweep = tmp_path / "sweep"
    proc = subprocess.Popen(
        [*run_cli_args(), "-m", *SLURM, *LONG, f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        task = _array_task(sweep, time.monotonic() + 300)
        # what Slurm sends before preempting a task (submitit checkpoints and requeues it)
        subprocess.run(["scancel", "--signal=USR2", task], check=True)
        out, _ = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 0, out[-3000:]
    results, expected = _results(sweep / "0"), _results(tmp_path / "reference")
    assert any("resumed from" in note for note in results["train"]["notes"])
    assert results["train"]["steps"] == expected["train"]["steps"]
    assert results["attacks"]["white_box"]["auc"] == pytest.approx(expected["attacks"]["white_box"]["auc"], abs=1e-9)


TIMED = [*SMOKE, "trainer.checkpoint_every=10", "attack=[white_box]", "metric=[gen_gap]"]


def _epochs_for(seconds: float, tmp_path: Path) -> int:
    """How many epochs of TIMED train in about `seconds` on this machine, from a short local run of the same job
    (one thread, as the Slurm task gets): a fixed count was 45 s of training on one machine and under 30 s on the
    next, and a job that ends before its signal tests nothing."""
    probe = 300
    run = run_cli(*TIMED, f"trainer.epochs={probe}", f"hydra.run.dir={tmp_path / 'probe'}", cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return max(probe, round(probe * seconds / _results(tmp_path / "probe")["train"]["seconds"]))


def test_a_job_past_its_time_limit_is_requeued_and_completes_from_its_checkpoint(tmp_path):
    """A 2-minute limit, signalled 25 s before it (Slurm checks time limits every 30 s or so and may signal up to a
    minute early: 35-95 s after a task starts). The job trains for about 120 s, so no task can finish it before
    its signal, and the task signalled at its checkpoint is requeued (max_num_timeout; Slurm holds a requeued task
    2-3 minutes); a later task resumes and finishes it. Five to ten minutes."""
    epochs = _epochs_for(120.0, tmp_path)
    sweep = tmp_path / "sweep"
    done = run_cli(
        "-m",
        *SLURM,
        *TIMED,
        f"trainer.epochs={epochs}",
        "hydra.launcher.timeout_min=2",
        "hydra.launcher.signal_delay_s=25",
        "hydra.launcher.max_num_timeout=6",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        timeout=1500,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = _results(sweep / "0")
    assert results["status"] == "completed" and results["train"]["steps"] == epochs * 4
    assert any("resumed from" in note for note in results["train"]["notes"]), results["train"]["notes"]


def run_cli_args() -> list[str]:
    import sys

    return [sys.executable, "-m", "privgan_runner"]
