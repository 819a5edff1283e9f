"""The W&B logger, offline, against the real wandb package: inspect the files it wrote."""

from __future__ import annotations

import json

import pytest

from privgan_runner.errors import ConfigError
from privgan_runner.pipeline import build_components

from .conftest import TINY, compose_config, run_cli
from .helpers.wandb_records import config_and_summary


def test_offline_run_files_hold_config_and_attack_figures(tiny_run, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    audit = ("audit=one_run", "audit.n_canaries=12", "audit.k_pos=3", "audit.k_neg=3")
    results, run_dir = tiny_run("logger=wandb", "logger.project=test", *audit)
    (offline,) = list((run_dir / "wandb").glob("offline-run-*"))
    (log,) = list(offline.glob("run-*.wandb"))  # what `wandb sync` uploads
    config, summary = config_and_summary(log)
    assert config["seed"] == 0 and config["dataset"]["name"] == "synthetic"
    assert summary["white_box/auc"] == pytest.approx(results["attacks"]["white_box"]["auc"])
    assert summary["metrics/gen_gap"] == pytest.approx(results["metrics"]["gen_gap"])
    assert summary["status"] == "completed" and "train/d_loss" in summary
    assert summary["audit/one_run/epsilon_lb"] == pytest.approx(results["audit"]["one_run"]["epsilon_lb"])
    assert "audit/descriptive/white_box/epsilon_cp_descriptive" in summary


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


def test_a_restarted_job_continues_its_wandb_run(tiny_run, tmp_path, monkeypatch):
    """A job killed mid-training and started again in its folder (a Slurm requeue) logs to the same W&B run."""
    import time

    from privgan_runner.loggers.wandb import WandbLogger

    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("NETRC", "/nonexistent")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    resumable = [
        "logger=wandb",
        "logger.mode=offline",
        "trainer.epochs=6",
        "trainer.checkpoint_every=1",
        "trainer.log_every=4",
    ]
    log = WandbLogger.log

    def dies_at_step_12(self, values, step):
        log(self, values, step)
        if step >= 12:
            raise KeyboardInterrupt("preempted")

    monkeypatch.setattr(WandbLogger, "log", dies_at_step_12)
    with pytest.raises(KeyboardInterrupt):
        tiny_run(*resumable, run_dir=tmp_path / "job")
    monkeypatch.setattr(WandbLogger, "log", log)
    time.sleep(1.1)  # W&B names offline folders by the second
    results, run_dir = tiny_run(*resumable, run_dir=tmp_path / "job")
    assert any("resumed from" in n for n in results["train"]["notes"])
    runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 2  # two starts ...
    run_id = (run_dir / "wandb" / "run_id").read_text().strip()
    assert [next(r.glob("run-*.wandb")).name for r in runs] == [f"run-{run_id}.wandb"] * 2  # ... one W&B run
    _, summary = config_and_summary(next(runs[1].glob("run-*.wandb")))
    assert summary["status"] == "completed"


def _quiet_wandb_env(monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("NETRC", "/nonexistent")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


SMOKE = [
    "+experiment=smoke",
    "trainer.epochs=2",
    "trainer.progress=false",
    "metric=[gen_gap]",
    "attack.white_box.bootstrap=20",
    "attack.top_m.bootstrap=20",
]


@pytest.mark.slow  # trains for long or runs subprocesses: make test-all
def test_wandb_mode_disabled_in_the_environment_opens_no_run(tmp_path, monkeypatch):
    from .conftest import run_cli

    _quiet_wandb_env(monkeypatch)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    proc = run_cli(*SMOKE, "logger=wandb", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (tmp_path / "run" / "wandb").exists() and not list(tmp_path.rglob("*.wandb"))


@pytest.mark.slow  # trains for long or runs subprocesses: make test-all
def test_a_sweeps_wandb_runs_have_distinct_names_a_group_and_tags(tmp_path, monkeypatch):
    import time

    from .conftest import run_cli
    from .helpers.wandb_records import run_meta

    _quiet_wandb_env(monkeypatch)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_PROJECT", "from-env")
    sweep = tmp_path / "smoke_seeds"
    proc = run_cli(
        "-m",
        *SMOKE,
        "seed=0,1",
        "logger=wandb",
        "logger.mode=offline",
        "logger.tags=[mine]",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    metas = [run_meta(next(p.glob("run-*.wandb"))) for p in sorted(sweep.glob("*/wandb/offline-run-*"))]
    assert len(metas) == 2
    assert len({m["name"] for m in metas}) == 2 and all("seed=" in m["name"] for m in metas)
    (group,) = {m["group"] for m in metas}
    assert group.startswith("smoke_seeds-") and time.strptime(group[len("smoke_seeds-") :], "%Y-%m-%d")
    assert all(set(m["tags"]) >= {"synthetic", "js", "none", "mine"} for m in metas)
    assert {m["project"] for m in metas} == {"from-env"}
    _, summary = config_and_summary(next(sweep.glob("0/wandb/offline-run-*/run-*.wandb")))
    assert summary["white_box/auc_ci_low"] <= summary["white_box/auc"] <= summary["white_box/auc_ci_high"]


@pytest.mark.slow  # waits for W&B's connection attempt to time out
def test_a_key_without_a_network_logs_offline_and_no_secret_reaches_the_run_folder(tmp_path, monkeypatch):
    """The automatic mode goes online with a key; unreachable, it falls back to offline instead of failing the
    job. The key from the environment appears in no file of the run folder (results, job, logs, W&B's files)."""
    secret = "dummy-secret-key-0123456789abcdef0123456789abcdef"
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_API_KEY", secret)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("WANDB_INIT_TIMEOUT", "5")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_dummy_token_value_42")
    run_dir = tmp_path / "run"  # through the command: Hydra's record and log are in the folder too
    proc = run_cli(*TINY, "logger=wandb", "logger.project=test", f"hydra.run.dir={run_dir}", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "logging offline" in (run_dir / "privgan_runner.log").read_text()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "completed"
    (offline,) = list((run_dir / "wandb").glob("offline-run-*"))
    config, summary = config_and_summary(next(offline.glob("run-*.wandb")))
    assert summary["white_box/auc"] == pytest.approx(results["attacks"]["white_box"]["auc"])
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert len(files) > 10 and (run_dir / ".hydra" / "config.yaml").is_file()
    leaked = [p for p in files if secret.encode() in p.read_bytes() or b"hf_dummy_token_value_42" in p.read_bytes()]
    assert not leaked


@pytest.mark.parametrize("key, value", [("project", "'a b/ü'"), ("entity", "'team#1'"), ("project", "''")])
def test_a_name_wandb_refuses_is_refused_with_the_config(key, value):
    """W&B raises a UsageError for these only when the run starts (after the folder is filled): refused first."""
    from privgan_runner.errors import ConfigError
    from privgan_runner.pipeline import build_components

    from .conftest import compose_config

    with pytest.raises(ConfigError) as err:
        build_components(compose_config("logger=wandb", f"logger.{key}={value}"))
    assert err.value.key == f"logger.{key}"
