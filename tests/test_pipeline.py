"""End to end: the run folder per CONTRACT.md, figures recomputable from saved scores, every
objective x regularizer trains or ends collapsed, re-attacking reuses the checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from .conftest import options

ATTACK_KEYS = {"auc", "f1", "balanced_accuracy", "tpr_at_1pct_fpr", "tpr_at_0p1pct_fpr", "top_m_accuracy", "chance"}


def test_run_folder_and_results_follow_the_contract(tiny_run):
    results, run_dir = tiny_run()
    for name in (
        "status.json",
        "membership.npz",
        "checkpoints/last.pt",
        "scores/white_box.npz",
        "scores/top_m.npz",
        "results.json",
        "plots/roc.png",
        "plots/score_hist.png",
        "plots/samples.png",
    ):
        assert (run_dir / name).is_file(), name
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["status"] == "completed" == json.loads((run_dir / "status.json").read_text())["status"]
    for key in ("experiment", "seed", "dataset", "train", "privacy", "attacks", "metrics", "config"):
        assert key in saved, key
    assert saved["dataset"]["n_members"] == 32 and saved["dataset"]["n_nonmembers"] == 32
    assert saved["train"]["steps"] == 2 * (32 // 8) and saved["train"]["device"] == "cpu"
    assert saved["privacy"] == {"mechanism": "none", "epsilon": None, "delta": None}
    for attack in ("white_box", "top_m"):
        assert ATTACK_KEYS <= saved["attacks"][attack].keys()
    assert "gen_gap" in saved["metrics"]
    assert not list(run_dir.rglob("*.tmp"))  # atomic writes leave no temporaries


def test_every_figure_equals_sklearn_on_saved_scores(tiny_run):
    results, run_dir = tiny_run()
    with np.load(run_dir / "membership.npz") as split:
        members = set(split["member_idx"].tolist())
    for attack, fig in results["attacks"].items():
        with np.load(run_dir / "scores" / f"{attack}.npz") as f:
            scores, is_member, idx, t = f["scores"], f["is_member"], f["record_idx"], float(f["threshold"])
        assert [i in members for i in idx] == is_member.tolist()  # traceable to membership.npz
        assert fig["auc"] == pytest.approx(roc_auc_score(is_member, scores))
        assert fig["f1"] == pytest.approx(f1_score(is_member, scores >= t))
        assert fig["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(is_member, scores >= t))
        m = int(is_member.sum())
        t_m = np.sort(scores)[::-1][m - 1]  # each record's chance of a top-m place, ties drawn at random
        chosen = np.where(
            scores > t_m, 1.0, np.where(scores == t_m, (m - (scores > t_m).sum()) / (scores == t_m).sum(), 0)
        )
        assert chosen.sum() == pytest.approx(m)
        assert fig["top_m_accuracy"] == pytest.approx(chosen[is_member].sum() / m)
    wb = np.load(run_dir / "scores" / "white_box.npz")
    # Wu: the members' mean d(x); the scores are d(x)'s logits (ranked without saturation), so is the threshold
    mean_d = (1 / (1 + np.exp(-wb["scores"][wb["is_member"]]))).mean()
    assert float(wb["threshold"]) == pytest.approx(np.log(mean_d / (1 - mean_d)))


@pytest.mark.parametrize("objective", options("objective"))
@pytest.mark.parametrize("regularizer", options("regularizer"))
def test_every_strategy_trains_or_collapses(tiny_run, objective, regularizer):
    # batch 4: 8 batches per epoch, so a WGAN's 5 critic steps still make a full G step
    results, run_dir = tiny_run(f"objective={objective}", f"regularizer={regularizer}", "trainer.batch_size=4")
    assert results["status"] in ("completed", "collapsed")
    if results["status"] == "collapsed":
        assert " at step " in results["train"]["message"]
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["status"] == results["status"]
    if saved["status"] == "completed":
        assert set(saved["attacks"]) == {"white_box", "top_m"}
        assert saved["train"]["steps"] == 2 * (8 // (5 if objective == "wasserstein" else 1))


def test_divergence_is_recorded_as_collapsed_with_the_step(tiny_run):
    results, run_dir = tiny_run("trainer.divergence_threshold=1e-9")
    assert results["status"] == "collapsed"
    assert "at step 1 " in results["train"]["message"]
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["attacks"] == {} and "collapsed" in saved["attacks_reason"]
    assert json.loads((run_dir / "status.json").read_text())["status"] == "collapsed"


def test_reattack_reuses_checkpoint_and_split(tiny_run):
    from privgan_runner.errors import RunFolderError

    first, run_dir = tiny_run()
    stamp = (run_dir / "checkpoints" / "last.pt").stat().st_mtime_ns
    again, _ = tiny_run("stages=[attack,evaluate]", "attack=[white_box,top_m,tvd]", run_dir=run_dir)
    assert (run_dir / "checkpoints" / "last.pt").stat().st_mtime_ns == stamp  # not retrained
    assert again["attacks"]["white_box"]["auc"] == pytest.approx(first["attacks"]["white_box"]["auc"])
    assert again["metrics"]["gen_gap"] == pytest.approx(first["metrics"]["gen_gap"]) and "tvd" in again["attacks"]
    with pytest.raises(RunFolderError, match="seed: 0 -> 5"):  # another seed's model is not this one
        tiny_run("stages=[attack,evaluate]", "seed=5", run_dir=run_dir)


def test_same_seed_same_result(tiny_run, tmp_path):
    a, _ = tiny_run(run_dir=tmp_path / "a")
    b, _ = tiny_run(run_dir=tmp_path / "b")
    assert a["attacks"]["white_box"]["auc"] == b["attacks"]["white_box"]["auc"]
    assert a["train"]["final"] == b["train"]["final"]


@pytest.mark.slow  # trains for long or runs subprocesses: make test-all
def test_memorizing_model_is_attacked_far_above_chance(tmp_path):
    """Positive control: 20 members seen hundreds of times are recognised by the white-box attack."""
    from privgan_runner import pipeline

    from .conftest import compose_config

    cfg = compose_config("+experiment=digits_memorize", "trainer.progress=false", "attack.white_box.bootstrap=200")
    results = pipeline.run(cfg, run_dir=tmp_path)
    wb = results["attacks"]["white_box"]
    assert wb["auc"] > 0.9, wb
    assert wb["auc_ci"][0] > 0.75
    assert results["attacks"]["top_m"]["top_m_accuracy"] > 3 * wb["chance"]  # chance = 20 / 200
    assert results["metrics"]["gen_gap"] > 0.5


def test_every_attack_and_metric_in_one_conditional_run(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("PRIVGAN_RUNNER_CACHE", str(tmp_path / "cache"))
    attacks = "attack=[white_box,top_m,tvd,monte_carlo,distance,logan]"
    metrics = "metric=[gen_gap,fid,kid,inception_score,intra_fid,classification]"
    small = [
        "attack.monte_carlo.n_generated=100",
        "attack.monte_carlo.pca_components=4",
        "attack.monte_carlo.m=4",
        "attack.monte_carlo.repetitions=2",
        "attack.distance.n_generated=50",
        "attack.logan.n_generated=50",
        "attack.logan.epochs=1",
        "metric.fid.n_samples=64",
        "metric.kid.n_samples=64",
        "metric.kid.subset_size=16",
        "metric.inception_score.n_samples=64",
        "metric.intra_fid.n_samples=100",
        "metric.classification.n_samples=64",
        "metric.classification.epochs=1",
        "metric.fid.classifier_epochs=1",
        "metric.kid.classifier_epochs=1",
        "metric.inception_score.classifier_epochs=1",
        "metric.intra_fid.classifier_epochs=1",
    ]
    results, run_dir = tiny_run(attacks, metrics, "model.conditional=true", "dataset.n_samples=128", *small)
    assert results["status"] == "completed"
    assert set(results["attacks"]) == {"white_box", "top_m", "tvd", "monte_carlo", "distance", "logan"}
    m = results["metrics"]
    for key in ("gen_gap", "fid", "kid", "inception_score", "intra_fid", "gen2real_accuracy", "real2gen_accuracy"):
        assert isinstance(m[key], float) and np.isfinite(m[key]), key
    assert m["fid"] >= 0 and m["intra_fid"] >= 0 and 1.0 <= m["inception_score"] <= 10.0
    assert 0 <= m["gen2real_accuracy"] <= 1 and 0 <= m["real2gen_accuracy"] <= 1
    with np.load(run_dir / "membership.npz") as f:
        assert {"reference_idx", "aux_member_idx", "aux_nonmember_idx"} <= set(f.files)


def test_run_folder_files_follow_the_users_umask(tiny_run):
    import os
    import stat

    old = os.umask(0o022)
    try:
        _, run_dir = tiny_run()
    finally:
        os.umask(old)
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert len(files) >= 8
    for path in files:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & stat.S_IRGRP and mode & stat.S_IROTH, (path, oct(mode))
