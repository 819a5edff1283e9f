"""Idempotent jobs: a killed job resumes from its last checkpoint; a finished job is not run again."""

from __future__ import annotations

import json
import os

import pytest
import torch

from privgan_runner.loggers.none import NoLogger

RESUMABLE = ["trainer.epochs=6", "trainer.checkpoint_every=1", "trainer.log_every=4"]


def _kill_at(monkeypatch, step):
    """Make the job die (like a preempted Slurm job) once training reaches `step`."""

    def log(self, values, at):
        if at >= step:
            raise KeyboardInterrupt("preempted")

    monkeypatch.setattr(NoLogger, "log", log)


AUDITED = [
    "privacy=dpsgd",
    "privacy.epsilon=null",
    "privacy.noise_multiplier=1.0",
    "audit=gradient",
    "audit.canaries=null",
    "audit.gradient_canaries=200",
    "audit.ceiling_repeats=1",
]


@pytest.mark.parametrize(
    "privacy", [[], ["privacy=dpsgd", "privacy.epsilon=null", "privacy.noise_multiplier=1.0"], AUDITED]
)
def test_killed_job_resumes_to_the_same_end(tiny_run, tmp_path, monkeypatch, privacy):
    straight, _ = tiny_run(*RESUMABLE, *privacy, run_dir=tmp_path / "straight")

    _kill_at(monkeypatch, 12)  # 4 steps per epoch: dies in epoch 3, after the epoch-2 checkpoint
    with pytest.raises(KeyboardInterrupt):
        tiny_run(*RESUMABLE, *privacy, run_dir=tmp_path / "killed")
    killed = tmp_path / "killed"
    assert json.loads((killed / "status.json").read_text())["status"] == "interrupted"
    saved = torch.load(killed / "checkpoints" / "resume.pt", weights_only=False)
    assert saved["epoch"] == 2 and saved["done"] == 8

    monkeypatch.undo()
    resumed, _ = tiny_run(*RESUMABLE, *privacy, run_dir=killed)
    assert resumed["status"] == "completed"
    assert resumed["train"]["steps"] == straight["train"]["steps"] == 24
    assert resumed["train"]["seconds"] >= round(saved["seconds"], 2) > 0  # the time before the kill counts too
    assert any("resumed from" in n for n in resumed["train"]["notes"])
    assert [h["step"] for h in torch.load(killed / "checkpoints" / "last.pt", weights_only=False)["history"]] == [
        4,
        8,
        12,
        16,
        20,
        24,
    ]
    assert not (killed / "checkpoints" / "resume.pt").exists()
    if privacy:  # the accountant went on from its recorded history: same steps, same epsilon
        assert resumed["privacy"]["steps"] == straight["privacy"]["steps"] == 24
        assert resumed["privacy"]["epsilon"] == pytest.approx(straight["privacy"]["epsilon"])
        a = torch.load(killed / "checkpoints" / "last.pt", weights_only=False)["privacy"]["accountant_history"]
        b = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=False)["privacy"][
            "accountant_history"
        ]
        assert [tuple(h) for h in a] == [tuple(h) for h in b]
    if "audit=gradient" in privacy:  # the white-box audit's canaries went on scoring from where they were
        from privgan_runner.audit.gradient import read_gradient_canaries

        a = read_gradient_canaries(killed / "checkpoints" / "gradient_canaries.npz")
        b = read_gradient_canaries(tmp_path / "straight" / "checkpoints" / "gradient_canaries.npz")
        assert a["steps"] == b["steps"] == 24 and a["entries"] == b["entries"]
        assert a["scores"] == pytest.approx(b["scores"], abs=1e-6)
        assert resumed["audit"]["gradient"]["epsilon_lb"] == straight["audit"]["gradient"]["epsilon_lb"]


def test_finished_job_is_not_run_again(tiny_run, tmp_path):
    first, run_dir = tiny_run(run_dir=tmp_path / "done")
    stamp = (run_dir / "results.json").stat().st_mtime_ns
    again, _ = tiny_run(run_dir=run_dir)
    assert again == json.loads((run_dir / "results.json").read_text())
    assert (run_dir / "results.json").stat().st_mtime_ns == stamp


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    from pathlib import Path

    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not __import__("pathlib").Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.slow  # trains for long or runs subprocesses: make test-all
def test_preempted_submitit_job_is_requeued_and_resumes(tmp_path):
    """The Slurm launcher's machinery without Slurm: submitit's local executor runs the sweep's job; the
    job gets submitit's preemption signal mid-training, is requeued into the same run folder, resumes
    from its checkpoint and ends with the uninterrupted step count."""
    import signal
    import subprocess
    import sys
    import time

    sweep = tmp_path / "sweep"
    epochs, steps_per_epoch = 200, 4  # smoke's 64 members, batch 16 (given below)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "privgan_runner",
            "-m",
            "hydra/launcher=submitit_local",
            "+experiment=smoke",
            "trainer.batch_size=16",
            f"trainer.epochs={epochs}",
            "trainer.checkpoint_every=1",
            "trainer.progress=false",
            "trainer.device=cpu",
            "attack=[white_box]",
            "metric=[gen_gap]",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        resume = sweep / "0" / "checkpoints" / "resume.pt"
        deadline = time.monotonic() + 240
        while not resume.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert resume.exists(), "the job never wrote a checkpoint"
        (controller,) = [int(p.name) for p in (sweep / ".submitit").iterdir() if p.name.isdigit()]
        (task,) = _children(controller)
        os.kill(task, signal.SIGUSR2)  # what submitit receives before a Slurm timeout or on preemption
        out, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]
    results = json.loads((sweep / "0" / "results.json").read_text())
    assert results["status"] == "completed"
    assert results["train"]["steps"] == epochs * steps_per_epoch
    (note,) = [n for n in results["train"]["notes"] if "resumed from" in n]
    resumed_at = int(note.split("at epoch ")[1].split()[0])
    assert 0 < resumed_at < epochs
    logs = "".join(p.read_text() for p in sorted((sweep / ".submitit").rglob("*_log.*")))
    assert "this job is preempted" in logs and "Requeued job" in logs, logs[-2000:]


def test_a_folder_holding_another_job_is_refused_untouched(tiny_run, tmp_path):
    """A sweep re-run into a used folder with other seeds or overrides must not pass off the old job's
    results (or resume its checkpoint) as the new job's."""
    from privgan_runner.errors import RunFolderError

    _, run_dir = tiny_run(run_dir=tmp_path / "job")
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.is_file()}
    for other in (["seed=1"], ["dataset.max_samples=32"]):
        with pytest.raises(RunFolderError, match="holds another job") as err:
            tiny_run(*other, run_dir=run_dir)
        assert other[0].split("=")[0] in str(err.value)
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.is_file()} == before

    with pytest.raises(RunFolderError, match=r"stages=\[attack,evaluate\]"):  # same model, other attacks
        tiny_run("metric=[gen_gap]", run_dir=run_dir)
    again, _ = tiny_run("trainer.log_every=2", "trainer.device=cpu", "logger=none", run_dir=run_dir)
    assert again["seed"] == 0  # how a job runs is not what it is: still skipped as finished
    fresh, _ = tiny_run("seed=1", "resume=false", run_dir=run_dir)  # asked for: train here from scratch
    assert fresh["seed"] == 1 and fresh["status"] == "completed"


def test_a_killed_job_is_not_resumed_by_another(tiny_run, tmp_path, monkeypatch):
    from privgan_runner.errors import RunFolderError

    _kill_at(monkeypatch, 12)
    with pytest.raises(KeyboardInterrupt):
        tiny_run(*RESUMABLE, run_dir=tmp_path / "job")
    monkeypatch.undo()
    with pytest.raises(RunFolderError, match="trainer.epochs"):
        tiny_run("trainer.epochs=7", "trainer.checkpoint_every=1", "trainer.log_every=4", run_dir=tmp_path / "job")
    fresh, _ = tiny_run(*RESUMABLE, "seed=3", "resume=false", run_dir=tmp_path / "job")
    assert not any("resumed" in n for n in fresh["train"]["notes"]) and fresh["train"]["steps"] == 24


@pytest.mark.slow  # trains for long or runs subprocesses: make test-all
def test_cli_refuses_a_used_folder_with_exit_2(tmp_path):
    from .conftest import TINY, run_cli

    run_dir = tmp_path / "run"
    first = run_cli(*TINY, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_cli(*TINY, "seed=5", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert second.returncode == 2 and "holds another job" in second.stderr and "seed: 0 -> 5" in second.stderr
    assert json.loads((run_dir / "results.json").read_text())["seed"] == 0


def _figures(results: dict) -> dict:
    return {"attacks": results["attacks"], "metrics": results["metrics"]}


def test_an_unreadable_checkpoint_resumes_from_the_generation_before_it(tiny_run, tmp_path, monkeypatch):
    from privgan_runner.errors import UnreadableFileError

    straight, _ = tiny_run(*RESUMABLE, run_dir=tmp_path / "straight")
    _kill_at(monkeypatch, 12)  # checkpoints after epochs 1 and 2: resume.prev.pt and resume.pt
    with pytest.raises(KeyboardInterrupt):
        tiny_run(*RESUMABLE, run_dir=tmp_path / "job")
    monkeypatch.undo()
    checkpoints = tmp_path / "job" / "checkpoints"
    assert torch.load(checkpoints / "resume.prev.pt", weights_only=False)["epoch"] == 1
    saved = (checkpoints / "resume.pt").read_bytes()
    (checkpoints / "resume.pt").write_bytes(saved[: len(saved) // 2])  # cut short

    resumed, _ = tiny_run(*RESUMABLE, run_dir=tmp_path / "job")
    assert resumed["status"] == "completed" and _figures(resumed) == _figures(straight)
    assert any("resumed from the generation before it" in n for n in resumed["train"]["notes"])
    assert not list(checkpoints.glob("resume*"))  # training over: both generations removed

    _kill_at(monkeypatch, 12)
    with pytest.raises(KeyboardInterrupt):
        tiny_run(*RESUMABLE, "resume=false", run_dir=tmp_path / "job")
    monkeypatch.undo()
    for name in ("resume.pt", "resume.prev.pt"):
        (checkpoints / name).write_bytes(b"not a checkpoint")
    with pytest.raises(UnreadableFileError, match="resume=false") as err:
        tiny_run(*RESUMABLE, run_dir=tmp_path / "job")
    assert str(checkpoints / "resume.pt") in str(err.value) and str(checkpoints / "resume.prev.pt") in str(err.value)
    status = json.loads((tmp_path / "job" / "status.json").read_text())
    assert status["status"] == "failed" and "resume.pt" in status["message"]


def test_a_job_stopped_in_its_attacks_resumes_without_training_again(tiny_run, tmp_path, monkeypatch):
    from privgan_runner import pipeline
    from privgan_runner.errors import Interrupted
    from privgan_runner.training.trainer import Trainer

    straight, _ = tiny_run(run_dir=tmp_path / "straight")

    def stopped(*args, **kwargs):
        raise Interrupted("SIGTERM")

    monkeypatch.setattr(pipeline, "run_attacks", stopped)
    with pytest.raises(Interrupted):
        tiny_run(run_dir=tmp_path / "job")
    status = json.loads((tmp_path / "job" / "status.json").read_text())
    assert (status["status"], status["stage"], status["message"]) == ("interrupted", "attack", "SIGTERM")
    monkeypatch.undo()

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(Trainer, "fit", no_training)
    resumed, _ = tiny_run(run_dir=tmp_path / "job")
    assert resumed["status"] == "completed" and _figures(resumed) == _figures(straight)
    assert resumed["privacy"] == straight["privacy"]
    assert any("trained in an earlier attempt" in n for n in resumed["train"]["notes"])


@pytest.mark.parametrize("damaged", ["checkpoints/last.pt", "membership.npz"])
def test_a_reattack_of_a_damaged_folder_names_the_file_and_the_way_out(tiny_run, tmp_path, damaged):
    from privgan_runner.errors import UnreadableFileError

    tiny_run(run_dir=tmp_path / "job")
    path = tmp_path / "job" / damaged
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UnreadableFileError, match="resume=false") as err:
        tiny_run("stages=[attack,evaluate]", run_dir=tmp_path / "job")
    assert str(path) in str(err.value)


@pytest.mark.slow  # subprocesses killed with SIGKILL
def test_sigkill_at_seeded_random_points_and_inside_a_checkpoint_write_ends_with_the_same_figures(tiny_run, tmp_path):
    """Killed inside its third checkpoint write (half the file on disk), then three times at seeded random
    moments of the job (imports, set-up, training and the attacks take ~2, ~3, 0.2 and ~3 s here), the job
    started again ends with the uninterrupted run's figures, and no temporary file stays."""
    import random
    import signal
    import subprocess
    import sys
    import time

    from .conftest import REPO, TINY

    straight, _ = tiny_run(*RESUMABLE, run_dir=tmp_path / "straight")
    job = tmp_path / "job"
    helper = [sys.executable, "-m", "tests.helpers.killed_job", str(job)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    died = subprocess.run([*helper, "3", *TINY, *RESUMABLE], cwd=REPO, env=env, capture_output=True, timeout=300)
    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    assert list((job / "checkpoints").glob(".resume.pt.*.tmp"))  # the write it died in
    rng = random.Random(0)
    for _ in range(3):
        proc = subprocess.Popen([*helper, "-", *TINY, *RESUMABLE], cwd=REPO, env=env, start_new_session=True)
        try:
            time.sleep(rng.uniform(2.0, 6.0))  # interpreter start, imports, then training
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    resumed, _ = tiny_run(*RESUMABLE, run_dir=job)
    assert resumed["status"] == "completed"
    assert _figures(resumed) == _figures(straight) and resumed["train"]["steps"] == straight["train"]["steps"]
    assert not [p for p in job.rglob("*.tmp")]


def _sigterm_at(monkeypatch, step):
    """Send this process SIGTERM (as a scheduler does) once training reaches `step`."""
    import signal

    sent = []

    def log(self, values, at):
        if at >= step and not sent:
            sent.append(at)
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(NoLogger, "log", log)


def test_sigterm_in_training_finishes_the_epoch_saves_it_and_resumes_to_the_same_end(tiny_run, tmp_path, monkeypatch):
    """No checkpoint is scheduled (checkpoint_every=10): the one the job resumes from is the stop's own, at the
    end of the epoch SIGTERM arrived in (step 10 of epoch 3: saved at epoch 3, step 12)."""
    from privgan_runner.errors import Interrupted

    graceful = ["trainer.epochs=6", "trainer.checkpoint_every=10", "trainer.log_every=2"]
    straight, _ = tiny_run(*graceful, run_dir=tmp_path / "straight")
    _sigterm_at(monkeypatch, 10)
    with pytest.raises(Interrupted):
        tiny_run(*graceful, run_dir=tmp_path / "job")
    monkeypatch.undo()
    status = json.loads((tmp_path / "job" / "status.json").read_text())
    assert (status["status"], status["stage"], status["message"]) == ("interrupted", "train", "SIGTERM")
    saved = torch.load(tmp_path / "job" / "checkpoints" / "resume.pt", weights_only=False)
    assert (saved["epoch"], saved["done"]) == (3, 12)
    resumed, _ = tiny_run(*graceful, run_dir=tmp_path / "job")
    assert resumed["status"] == "completed" and _figures(resumed) == _figures(straight)
    assert any("resumed from" in n and "epoch 3" in n for n in resumed["train"]["notes"])
