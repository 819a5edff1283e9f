"""A new attack, written in one file and registered by a yaml in the user's own config folder, reaches the
console, results.json, the report and the W&B summary with no edit anywhere else; re-attacking keeps the
training job's Hydra record; the summary reaches Hydra's job log."""

from __future__ import annotations

import json
import textwrap

import pytest

from .conftest import run_cli

SMOKE = [
    "+experiment=smoke",
    "trainer.epochs=2",
    "trainer.progress=false",
    "metric=[gen_gap]",
    "attack.white_box.bootstrap=20",
]

ATTACK = '''
import numpy as np

from privgan_runner.attacks.base import Attack, AttackScores
from privgan_runner.results import Figure


class Loudness(Attack):
    """Scores a record by its mean pixel value (an attack that knows nothing about the model)."""

    figures = (Figure("loudness_spread", True, True, description="max - min score"),)

    def scores(self, trained):
        idx = trained.attacked_idx
        scores = trained.pool.images[idx].mean(dim=(1, 2, 3)).double().numpy()
        return AttackScores(scores=scores, is_member=trained.is_member, record_idx=idx,
                            extra={"loudness_spread": float(np.ptp(scores))})
'''


@pytest.mark.slow  # trains for long or runs subprocesses: make test-all
def test_a_new_attack_reaches_console_report_and_wandb(tmp_path, monkeypatch):
    from privgan_runner.report.__main__ import build_report

    from .helpers.wandb_records import config_and_summary

    (tmp_path / "my_attacks.py").write_text(textwrap.dedent(ATTACK))
    conf = tmp_path / "my_conf" / "attack"
    conf.mkdir(parents=True)
    (conf / "loudness.yaml").write_text(
        "# @package attack.loudness\n_target_: my_attacks.Loudness\nname: loudness\nbootstrap: 20\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("NETRC", "/nonexistent")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    run = tmp_path / "run"
    proc = run_cli(
        *SMOKE,
        f"hydra.searchpath=[file://{tmp_path / 'my_conf'}]",
        "attack=[white_box,loudness]",
        "logger=wandb",
        "logger.mode=offline",
        f"hydra.run.dir={run}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((run / "results.json").read_text())
    spread = results["attacks"]["loudness"]["loudness_spread"]
    assert results["figures"]["loudness.loudness_spread"]["headline"] is True
    assert "loudness " in proc.stdout and f"loudness: loudness_spread={spread:.3f}" in proc.stdout  # console
    report = build_report([run], tmp_path / "report")
    assert "loudness.loudness_spread" in report["markdown"].splitlines()[0]  # report, a headline column
    _, summary = config_and_summary(next(run.glob("wandb/offline-run-*/run-*.wandb")))
    assert summary["loudness/loudness_spread"] == spread and "loudness/auc" in summary  # W&B


@pytest.mark.slow  # trains for long or runs subprocesses: make test-all
def test_reattacking_keeps_the_training_jobs_hydra_record_and_logs_the_summary(tmp_path):
    run = tmp_path / "run"
    proc = run_cli(*SMOKE, "trainer.epochs=3", f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = (run / ".hydra" / "overrides.yaml").read_text()
    log = (run / "privgan_runner.log").read_text()
    assert "white_box" in log and "status=completed" in log  # the summary, in Hydra's job log
    proc = run_cli("stages=[attack,evaluate]", "attack=[white_box,tvd]", f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (run / ".hydra" / "overrides.yaml").read_text() == record  # the training job's record, intact
    assert "attack=[white_box,tvd]" in (run / ".hydra-attack" / "overrides.yaml").read_text()
    results = json.loads((run / "results.json").read_text())
    assert results["config"]["trainer"]["epochs"] == 3 and set(results["attacks"]) == {"white_box", "tvd"}
