"""The W&B logger, offline, against the real wandb package: inspect the files it wrote."""
from __future__ import annotations

import pytest

from privgan_runner.errors import ConfigError
from privgan_runner.pipeline import build_components

from .conftest import compose_config
from .wandb_records import config_and_summary


def test_offline_run_files_hold_config_and_attack_figures(tiny_run, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    results, run_dir = tiny_run("logger=wandb", "logger.project=test")
    (offline,) = list((run_dir / "wandb").glob("offline-run-*"))
    (log,) = list(offline.glob("run-*.wandb"))  # what `wandb sync` uploads
    config, summary = config_and_summary(log)
    assert config["seed"] == 0 and config["dataset"]["name"] == "synthetic"
    assert summary["white_box/auc"] == pytest.approx(results["attacks"]["white_box"]["auc"])
    assert summary["metrics/gen_gap"] == pytest.approx(results["metrics"]["gen_gap"])
    assert summary["status"] == "completed" and "train/d_loss" in summary


def test_two_runs_in_one_process_stay_separate(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("NETRC", "/nonexistent")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    _, a = tiny_run("logger=wandb", "logger.mode=offline", run_dir=tmp_path / "a")
    _, b = tiny_run("logger=wandb", "logger.mode=offline", "seed=1", run_dir=tmp_path / "b")
    (run_a,), (run_b,) = list((a / "wandb").glob("offline-run-*")), list((b / "wandb").glob("offline-run-*"))
    assert run_a.name != run_b.name
    cfg_a, _ = config_and_summary(next(run_a.glob("run-*.wandb")))
    cfg_b, _ = config_and_summary(next(run_b.glob("run-*.wandb")))
    assert cfg_a["seed"] == 0 and cfg_b["seed"] == 1


def test_bad_mode_is_refused():
    with pytest.raises(ConfigError, match="logger.mode"):
        build_components(compose_config("logger=wandb", "logger.mode=sometimes"))
