"""Idempotent jobs: a killed job resumes from its last checkpoint; a finished job is not run again."""
from __future__ import annotations

import json

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


@pytest.mark.parametrize("privacy", [[], ["privacy=dpsgd", "privacy.noise_multiplier=1.0"]])
def test_killed_job_resumes_to_the_same_end(tiny_run, tmp_path, monkeypatch, privacy):
    straight, _ = tiny_run(*RESUMABLE, *privacy, run_dir=tmp_path / "straight")

    _kill_at(monkeypatch, 12)  # 4 steps per epoch: dies in epoch 3, after the epoch-2 checkpoint
    with pytest.raises(KeyboardInterrupt):
        tiny_run(*RESUMABLE, *privacy, run_dir=tmp_path / "killed")
    killed = tmp_path / "killed"
    assert json.loads((killed / "status.json").read_text())["status"] == "running"
    saved = torch.load(killed / "checkpoints" / "resume.pt", weights_only=False)
    assert saved["epoch"] == 2 and saved["done"] == 8

    monkeypatch.undo()
    resumed, _ = tiny_run(*RESUMABLE, *privacy, run_dir=killed)
    assert resumed["status"] == "completed"
    assert resumed["train"]["steps"] == straight["train"]["steps"] == 24
    assert any("resumed from" in n for n in resumed["train"]["notes"])
    assert [h["step"] for h in torch.load(killed / "checkpoints" / "last.pt", weights_only=False)["history"]] == \
        [4, 8, 12, 16, 20, 24]
    assert not (killed / "checkpoints" / "resume.pt").exists()
    if privacy:  # the accountant went on from its recorded history: same steps, same epsilon
        assert resumed["privacy"]["steps"] == straight["privacy"]["steps"] == 24
        assert resumed["privacy"]["epsilon"] == pytest.approx(straight["privacy"]["epsilon"])
        a = torch.load(killed / "checkpoints" / "last.pt", weights_only=False)["privacy"]["accountant_history"]
        b = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=False)["privacy"]["accountant_history"]
        assert [tuple(h) for h in a] == [tuple(h) for h in b]


def test_finished_job_is_not_run_again(tiny_run, tmp_path):
    first, run_dir = tiny_run(run_dir=tmp_path / "done")
    stamp = (run_dir / "results.json").stat().st_mtime_ns
    again, _ = tiny_run(run_dir=run_dir)
    assert again == json.loads((run_dir / "results.json").read_text())
    assert (run_dir / "results.json").stat().st_mtime_ns == stamp
