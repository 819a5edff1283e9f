"""Faults a cluster produces: two processes on one run folder, a killed lock holder, a bad job in a parallel
sweep. Subprocesses run in their own session and are killed with their whole group whatever happens."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from privgan_runner.errors import ReattackFailed, RunFolderError
from privgan_runner.run_folder import RunFolder

from .conftest import SMOKE


@contextmanager
def spawned(args: list[str], cwd: Path):
    """A child process in its own session; on leaving, it and everything it started are killed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _runner(*overrides: str) -> list[str]:
    return [sys.executable, "-m", "privgan_runner", *overrides]


def test_a_held_folder_refuses_a_second_holder_naming_the_first(tmp_path):
    folder = RunFolder(tmp_path)
    folder.write_status("running", "train")
    with folder.lock():
        with pytest.raises(RunFolderError, match=rf"another job is running in it \(pid {os.getpid()} on "):
            RunFolder(tmp_path).lock()
    RunFolder(tmp_path).lock().release()  # released: free again


def test_a_killed_holders_lock_is_taken_over(tmp_path):
    """SIGKILL leaves no chance to clean up; the kernel drops the lock with the process (a requeue's case)."""
    holder = (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); "
        "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)"
    )
    with spawned([sys.executable, "-c", holder, str(tmp_path)], tmp_path) as proc:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(RunFolderError):
            RunFolder(tmp_path).lock()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    RunFolder(tmp_path).lock().release()


@pytest.mark.slow
def test_two_jobs_started_on_one_folder_one_trains_the_other_is_refused_at_once(tmp_path):
    run = tmp_path / "run"
    with spawned(_runner(*SMOKE, "trainer.epochs=400", f"hydra.run.dir={run}"), tmp_path) as first:
        _wait_for_training(first, run)
        started = time.monotonic()
        second = subprocess.run(
            _runner(*SMOKE, f"hydra.run.dir={run}"), cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        took = time.monotonic() - started
        assert first.poll() is None, "the first job should still be training"
        holder = RunFolder(run).status()["pid"]
    assert second.returncode != 0 and f"pid {holder} on" in second.stderr, second.stderr[-2000:]
    assert took < 30  # interpreter start and imports; no training
    overrides = (run / ".hydra" / "overrides.yaml").read_text()
    assert "trainer.epochs=400" in overrides  # the refused job did not overwrite the running job's record
    assert not list(run.glob(".hydra-pending-*"))


def _wait_for_training(proc, run: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (RunFolder(run).status() or {}).get("stage") == "train":
            return
        time.sleep(0.1)
    raise AssertionError("the job never started training")


@pytest.mark.slow
def test_sigterm_leaves_the_job_interrupted_without_a_traceback_and_the_folder_free(tmp_path):
    run = tmp_path / "run"
    args = _runner(*SMOKE, "trainer.epochs=400", "trainer.checkpoint_every=2", f"hydra.run.dir={run}")
    with spawned(args, tmp_path) as proc:
        _wait_for_training(proc, run)
        deadline = time.monotonic() + 120  # a first checkpoint: the trainer's loop is running
        while not (run / "checkpoints" / "resume.pt").is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "interrupted (SIGTERM)" in out and "Traceback" not in out, out[-2000:]
    status = RunFolder(run).status()
    assert (status["status"], status["stage"], status["message"]) == ("interrupted", "train", "SIGTERM")
    RunFolder(run).lock().release()  # the lock went with the job


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher", [["hydra/launcher=local", "hydra.launcher.n_jobs=2"], ["hydra/launcher=submitit_local"]]
)
def test_a_bad_job_in_a_parallel_sweep_is_recorded_failed_and_the_good_one_completes(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    with spawned(
        _runner(
            "-m",
            *launcher,
            *SMOKE,
            "trainer.batch_size=-4,16",
            "attack=[white_box]",
            "metric=[gen_gap]",
            f"hydra.sweep.dir={sweep}",
        ),
        tmp_path,
    ) as proc:
        out, _ = proc.communicate(timeout=400)
    assert proc.returncode != 0, out[-2000:]  # the sweep reports the failure ...
    bad = json.loads((sweep / "0" / "status.json").read_text())
    good = json.loads((sweep / "1" / "results.json").read_text())
    assert bad["status"] == "failed" and "trainer.batch_size" in bad["message"]  # ... recorded in its folder
    assert good["status"] == "completed", out[-2000:]


def _refused_job(run: Path, *overrides: str) -> None:
    """A job whose dataset is missing, run with a Hydra record pending as the launcher leaves it."""
    from privgan_runner.errors import DatasetNotFoundError
    from privgan_runner.pipeline import run as run_pipeline

    from .conftest import compose_config

    pending = RunFolder(run).pending_record()
    pending.mkdir(parents=True)
    (pending / "config.yaml").write_text("dataset:\n  name: cifar10\n")
    cfg = compose_config(*SMOKE, "dataset=cifar10", f"++dataset.root={run}/none", *overrides)
    with pytest.raises(DatasetNotFoundError):
        run_pipeline(cfg, run_dir=run)
    assert not pending.exists()


def test_a_job_refused_in_a_fresh_folder_keeps_its_hydra_record_for_the_report(tmp_path):
    _refused_job(tmp_path)
    assert json.loads((tmp_path / "status.json").read_text())["status"] == "failed"
    assert "cifar10" in (tmp_path / ".hydra" / "config.yaml").read_text()  # the report's row names the job


def test_a_job_refused_in_a_trained_folder_leaves_that_jobs_record(tmp_path):
    (tmp_path / "job.json").write_text(json.dumps({"config": {"dataset": {"name": "digits"}}}))
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("dataset:\n  name: digits\n")
    _refused_job(tmp_path, "resume=false")  # resume=false: past the folder check, refused for its dataset
    assert "digits" in (tmp_path / ".hydra" / "config.yaml").read_text()


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["privacy=dpsgd", "regularizer=spectral_norm"], "regularizer"),
        (["privacy=dpsgd", "regularizer=gradient_penalty"], "regularizer"),
        (["privacy=dpsgd", "trainer.precision=bf16"], "trainer.precision"),
        (["privacy=dpsgd", "trainer.channels_last=true"], "trainer.channels_last"),
        (["trainer.batch_size=100000"], "trainer.batch_size"),
        (["trainer.batch_size=-4"], "batch_size"),
    ],
)
def test_a_refused_configuration_writes_nothing_but_the_refusal(tmp_path, overrides, key):
    """Refusals come while the components are built or checked against the data: the folder gets status.json
    (the refusal, for the report) and nothing else."""
    from privgan_runner.errors import ConfigError
    from privgan_runner.pipeline import run as run_pipeline

    from .conftest import compose_config

    with pytest.raises(ConfigError, match=key):
        run_pipeline(compose_config(*SMOKE, *overrides), run_dir=tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["status.json"]
    assert key in json.loads((tmp_path / "run" / "status.json").read_text())["message"]


def test_a_failed_write_leaves_the_previous_file_whole_and_no_temporary_file(tmp_path, monkeypatch):
    import errno

    from privgan_runner import io

    target = io.write_json(tmp_path / "results.json", {"auc": 0.6})

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        io.write_json(target, {"auc": 0.9})
    assert json.loads(target.read_text()) == {"auc": 0.6}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_full_disk_at_the_results_fails_the_job_and_says_so_in_its_status(tiny_run, tmp_path, monkeypatch):
    import errno

    def full_disk(self, results):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(RunFolder, "write_results", full_disk)
    with pytest.raises(OSError, match="No space left"):
        tiny_run(run_dir=tmp_path / "run")
    status = RunFolder(tmp_path / "run").status()
    assert status["status"] == "failed" and "No space left on device" in status["message"]
    assert not (tmp_path / "run" / "results.json").exists()


def test_an_unwritable_run_folder_is_refused_naming_its_key_before_hydra_starts(tmp_path, monkeypatch):
    from privgan_runner.__main__ import unwritable_run_folder

    (tmp_path / "a_file").write_text("")
    proc = subprocess.run(
        _runner(*SMOKE, f"hydra.run.dir={tmp_path}/a_file/run"), cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 2 and "hydra.run.dir" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "outputs").exists()
    assert unwritable_run_folder([f"hydra.sweep.dir={tmp_path}/new/sweep", "seed=1"]) is None
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # a read-only folder (root may write anyway)
    assert "hydra.sweep.dir" in unwritable_run_folder([f"hydra.sweep.dir={tmp_path}/new/sweep"])


@pytest.mark.slow  # runs the command
def test_check_only_through_the_command_leaves_no_folder_behind(tmp_path):
    from .conftest import run_cli

    accepted = run_cli(*SMOKE, "check_only=true", f"hydra.run.dir={tmp_path}/ok", cwd=tmp_path)
    refused = run_cli(
        *SMOKE, "check_only=true", "trainer.batch_size=100000", f"hydra.run.dir={tmp_path}/no", cwd=tmp_path
    )
    assert accepted.returncode == 0 and "accepted (check_only)" in accepted.stdout + accepted.stderr
    assert refused.returncode == 2 and "trainer.batch_size" in refused.stderr
    assert not (tmp_path / "ok").exists() and not (tmp_path / "no").exists()


# --- a re-attack is a transaction ---


def _files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("failure", ["failed attack", "interrupted"])
def test_a_failed_reattack_leaves_the_completed_run_byte_for_byte_as_it_was(tiny_run, monkeypatch, failure):
    """Re-attacking a finished run with an attack that fails (DOMIAS' KDE on 3 samples) or that is stopped by
    Ctrl-C / SIGTERM: results.json, the earlier scores, plots and status are exactly as they were, no copy is
    left, and the failure reaches the caller."""
    _, run_dir = tiny_run("attack=[white_box,top_m,tvd]")
    before = _files(run_dir)
    if failure == "interrupted":
        from privgan_runner.attacks.white_box import WhiteBox

        def stopped(self, trained):
            raise KeyboardInterrupt

        monkeypatch.setattr(WhiteBox, "scores", stopped)
        expected, overrides = KeyboardInterrupt, ("attack=[top_m,white_box]",)
    else:  # white_box and top_m score (and write) first, then DOMIAS fails
        expected, overrides = ReattackFailed, ("attack=[white_box,top_m,domias]", "attack.domias.n_generated=3")
    with pytest.raises(expected):
        tiny_run("stages=[attack,evaluate]", *overrides, run_dir=run_dir)
    assert _files(run_dir) == before
    assert RunFolder(run_dir).status()["status"] == "completed"


def test_a_reattack_killed_outright_is_undone_by_the_next_job_on_the_folder(tiny_run):
    _, run_dir = tiny_run()
    before = _files(run_dir)
    folder = RunFolder(run_dir)
    transaction = folder.reattack_transaction()
    transaction.__enter__()  # ... and the process dies before leaving it
    folder.write_results({"status": "failed", "half": "written"})
    (folder.scores_dir / "new.npz").write_bytes(b"partial")
    folder.write_status("running", "attack")
    again, _ = tiny_run(run_dir=run_dir)  # the next job holding the folder: puts the run back, finds it finished
    assert again["status"] == "completed"
    assert _files(run_dir) == before


def test_a_successful_reattack_keeps_no_copy(tiny_run):
    _, run_dir = tiny_run()
    again, _ = tiny_run("stages=[attack,evaluate]", "attack=[white_box,top_m,tvd]", run_dir=run_dir)
    assert again["status"] == "completed" and "tvd" in again["attacks"]
    assert not (run_dir / ".reattack-backup").exists()


def test_a_failed_reattack_through_the_command_says_so_in_one_line(tmp_path):
    from .conftest import run_cli

    run_dir = tmp_path / "run"
    trained = run_cli(*SMOKE, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    before = {k: v for k, v in _files(run_dir).items() if not k.endswith(".log")}  # Hydra appends to its log
    again = run_cli(
        "stages=[attack]", "attack=[domias]", "attack.domias.n_generated=3", f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert "re-attack" in again.stderr and "the run folder is as it was" in again.stderr
    assert {k: v for k, v in _files(run_dir).items() if not k.endswith(".log")} == before


# --- a full disk, for real: a small tmpfs (needs root and mount; skipped elsewhere) ---


@contextmanager
def small_disk(tmp_path: Path, size: str = "16m"):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk: Path) -> None:
    """Write to `disk` until it is full (ENOSPC)."""
    with open(disk / "filler", "ab") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_a_full_disk_at_a_checkpoint_fails_the_job_and_its_status_says_why(tiny_run, tmp_path, monkeypatch):
    """torch's own writer raised a RuntimeError that named no cause and the status stayed `running`: the
    checkpoint is now written as bytes (ENOSPC is an OSError), and status.json is written over in place when no
    new file fits."""
    from privgan_runner.training.checkpoint import Checkpoint

    real_save = Checkpoint.save

    def fill_then_save(self, state):
        fill(self.path.parents[2])
        real_save(self, state)

    monkeypatch.setattr(Checkpoint, "save", fill_then_save)
    with small_disk(tmp_path) as disk:
        with pytest.raises(OSError, match="No space left"):
            tiny_run("trainer.checkpoint_every=1", "trainer.epochs=3", run_dir=disk / "run")
        status = json.loads((disk / "run" / "status.json").read_text())
        assert status["status"] == "failed" and "No space left on device" in status["message"]


def test_a_full_disk_under_the_report_is_one_line_and_exit_1(tiny_run, tmp_path, capsys):
    from privgan_runner.report.__main__ import main

    _, run_dir = tiny_run()
    with small_disk(tmp_path, "2m") as disk:
        fill(disk)
        assert main([str(run_dir), "--out", str(disk / "report")]) == 1
    err = capsys.readouterr().err
    assert "the report could not be written" in err and "No space left" in err and "Traceback" not in err
