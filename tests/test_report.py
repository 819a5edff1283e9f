"""The report reproduces mean ± std from hand-made run folders, with N/A and failed cells."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from privgan_runner.report.__main__ import build_report


def _run(root, name, status, regularizer="none", auc=None, gap=None, seed=0, privacy=None):
    run = root / name
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"status": status, "stage": "x", "message": ""}))
    config = {"name": "wu", "seed": seed, "dataset": {"name": "digits"}, "objective": {"name": "js"},
              "regularizer": {"name": regularizer}, "privacy": {"name": (privacy or {}).get("mechanism", "none")}}
    if status == "failed":  # died before results.json: only Hydra's record of the config is there
        (run / ".hydra").mkdir()
        import yaml

        (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
        return run
    results = {"status": status, "experiment": "wu", "seed": seed, "dataset": {"name": "digits"},
               "privacy": privacy or {"mechanism": "none", "epsilon": None, "delta": None},
               "attacks": {}, "metrics": {}, "config": config}
    if status == "completed":
        results["attacks"] = {"white_box": {"auc": auc, "f1": 0.5, "top_m_accuracy": auc - 0.1}}
        results["metrics"] = {"gen_gap": gap}
        (run / "scores").mkdir()
        rng = np.random.default_rng(seed)
        np.savez(run / "scores" / "white_box.npz", scores=rng.random(20), is_member=np.arange(20) < 10)
    (run / "results.json").write_text(json.dumps(results))
    return run


def test_mean_std_na_and_failed_cells(tmp_path):
    for seed, (auc, gap) in enumerate([(0.6, 1.0), (0.7, 2.0), (0.8, 3.0)]):
        _run(tmp_path, f"none{seed}", "completed", auc=auc, gap=gap, seed=seed)
    for seed in range(2):
        _run(tmp_path, f"gp{seed}", "collapsed", regularizer="gradient_penalty", seed=seed)
    _run(tmp_path, "wc0", "failed", regularizer="weight_clip")
    report = build_report([tmp_path], tmp_path / "out")
    rows = {r["regularizer"]: r for r in report["table"]}
    assert list(rows) == ["none", "weight_clip", "gradient_penalty"]  # Wu et al.'s column order, not alphabetical
    wb = rows["none"]["white_box.auc"]
    assert wb["mean"] == pytest.approx(0.7) and wb["std"] == pytest.approx(0.1) and wb["n"] == 3
    assert rows["none"]["gen_gap"]["mean"] == pytest.approx(2.0) and rows["none"]["gen_gap"]["std"] == pytest.approx(1.0)
    assert rows["gradient_penalty"]["white_box.auc"] == "N/A" and rows["gradient_penalty"]["collapsed"] == 2
    assert rows["weight_clip"]["white_box.auc"] == "failed" and rows["weight_clip"]["failed"] == 1
    md = (tmp_path / "out" / "report.md").read_text()
    assert "0.700 ± 0.100" in md and "N/A" in md and "failed" in md
    assert rows["none"]["paper.lfw.auc"] == "0.729"  # Wu et al. Table 1 beside ours
    assert rows["gradient_penalty"]["paper.lfw.auc"] == "N/A"  # collapsed in the paper too
    csv_text = (tmp_path / "out" / "report.csv").read_text()
    assert "white_box.auc_mean" in csv_text.splitlines()[0]
    assert (tmp_path / "out" / "roc_overlay.png").is_file()


def test_sweep_curve_and_pigan_reference(tmp_path):
    for lam, auc in ((0.0, 0.9), (2.0, 0.8), (10.0, 0.6)):
        _run(tmp_path, f"lam{lam}", "completed", auc=auc, gap=0.1,
             privacy={"mechanism": "pigan", "lam": lam, "n_groups": 2, "epsilon": None})
    report = build_report([tmp_path], tmp_path / "out")
    assert (tmp_path / "out" / "curves_lam.png").is_file()
    assert [r["lam"] for r in report["table"]] == [0.0, 2.0, 10.0]  # numeric order


def test_cli_errors_on_missing_path(tmp_path):
    out = subprocess.run([sys.executable, "-m", "privgan_runner.report", str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "no such run folder" in out.stderr
