"""The report reproduces mean ± std from hand-made run folders, with N/A and failed cells."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from privgan_runner.report.__main__ import build_report

WU_LFW = {
    "dataset": {"name": "lfw", "member_fraction": 0.5, "max_samples": None},
    "model": {"name": "dcgan"},
    "trainer": {"epochs": 400, "batch_size": 64},
}


def _run(
    root,
    name,
    status,
    regularizer="none",
    auc=None,
    gap=None,
    seed=0,
    privacy=None,
    epochs=100,
    protocol=None,
    metrics=None,
):
    run = root / name
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"status": status, "stage": "x", "message": ""}))
    config = {
        "name": "wu",
        "seed": seed,
        "dataset": {"name": "digits"},
        "objective": {"name": "js"},
        "regularizer": {"name": regularizer},
        "trainer": {"epochs": epochs, "device": f"cuda:{seed}"},
        "privacy": {
            "name": (privacy or {}).get("mechanism", "none"),
            **{k: v for k, v in (privacy or {}).items() if k in ("lam", "n_groups")},
        },
    }
    config.update(protocol or {})
    if status == "failed":  # died before results.json: only Hydra's record of the config is there
        (run / ".hydra").mkdir()
        import yaml

        (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
        return run
    results = {
        "status": status,
        "experiment": "wu",
        "seed": seed,
        "dataset": {"name": "digits"},
        "privacy": privacy or {"mechanism": "none", "epsilon": None, "delta": None},
        "attacks": {},
        "metrics": {},
        "config": config,
    }
    if status == "completed":
        results["attacks"] = {"white_box": {"auc": auc, "f1": 0.5, "top_m_accuracy": auc - 0.1}}
        results["metrics"] = {"gen_gap": gap, **(metrics or {})}
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
    assert report["columns"] == ["regularizer.name"]
    rows = {r["config"]["regularizer.name"]: r for r in report["table"]}
    assert list(rows) == ["none", "weight_clip", "gradient_penalty"]  # Wu et al.'s column order, not alphabetical
    wb = rows["none"]["figures"]["white_box.auc"]
    assert wb["mean"] == pytest.approx(0.7) and wb["std"] == pytest.approx(0.1) and wb["n"] == 3
    gap = rows["none"]["figures"]["gen_gap"]
    assert gap["mean"] == pytest.approx(2.0) and gap["std"] == pytest.approx(1.0)
    assert rows["gradient_penalty"]["figures"]["white_box.auc"] == "N/A" and rows["gradient_penalty"]["collapsed"] == 2
    assert rows["weight_clip"]["figures"]["white_box.auc"] == "failed" and rows["weight_clip"]["failed"] == 1
    md = (tmp_path / "out" / "report.md").read_text()
    assert "0.700 ± 0.100" in md and "N/A" in md and "failed" in md
    assert not report["table"][0]["paper"]  # digits at 100 epochs is not Wu's LFW protocol: no paper value
    csv_text = (tmp_path / "out" / "report.csv").read_text()
    assert "white_box.auc_mean" in csv_text.splitlines()[0]
    assert (tmp_path / "out" / "roc_overlay.png").is_file()


def test_sweep_curve_and_pigan_reference(tmp_path):
    for lam, auc in ((0.0, 0.9), (2.0, 0.8), (10.0, 0.6)):
        _run(
            tmp_path,
            f"lam{lam}",
            "completed",
            auc=auc,
            gap=0.1,
            privacy={"mechanism": "pigan", "lam": lam, "n_groups": 2, "epsilon": None},
        )
    report = build_report([tmp_path], tmp_path / "out")
    assert (tmp_path / "out" / "curves_privacy.lam.png").is_file()
    assert [r["config"]["privacy.lam"] for r in report["table"]] == [0.0, 2.0, 10.0]  # numeric order


def test_runs_differing_in_any_key_are_never_averaged(tmp_path):
    """Runs that differ only in trainer.epochs: one row per epochs value, epochs as a column; the failed job
    is counted in its own configuration's row only; the device (how a job runs) is not a configuration."""
    for seed, auc in enumerate((0.6, 0.8)):
        _run(tmp_path, f"e100_{seed}", "completed", auc=auc, gap=0.1, seed=seed, epochs=100)
    _run(tmp_path, "e200_0", "completed", auc=0.9, gap=0.2, seed=0, epochs=200)
    _run(tmp_path, "e200_1", "failed", seed=1, epochs=200)
    report = build_report([tmp_path], tmp_path / "out")
    assert report["columns"] == ["trainer.epochs"]
    rows = {r["config"]["trainer.epochs"]: r for r in report["table"]}
    assert list(rows) == [100, 200]
    assert rows[100]["figures"]["white_box.auc"]["mean"] == pytest.approx(0.7) and rows[100]["failed"] == 0
    assert rows[200]["figures"]["white_box.auc"] == {"mean": 0.9, "std": 0.0, "n": 1} and rows[200]["failed"] == 1
    md = (tmp_path / "out" / "report.md").read_text().splitlines()
    assert md[0].startswith("| trainer.epochs |") and len(md) == 4


def test_every_reported_figure_reaches_the_report(tmp_path):
    _run(
        tmp_path,
        "a",
        "completed",
        auc=0.7,
        gap=0.1,
        metrics={"kid": 0.01, "inception_score": 2.5, "intra_fid": 30.0, "gen2real_accuracy": 0.8},
    )
    report = build_report([tmp_path], tmp_path / "out")
    figures = report["table"][0]["figures"]
    for name in (
        "kid",
        "inception_score",
        "intra_fid",
        "gen2real_accuracy",
        "white_box.f1",
        "white_box.top_m_accuracy",
    ):
        assert name in figures, name
    header = [c.strip() for c in (tmp_path / "out" / "report.md").read_text().splitlines()[0].strip("|").split("|")]
    assert {"kid", "inception_score", "intra_fid", "gen2real_accuracy"} <= set(header)
    csv_header = (tmp_path / "out" / "report.csv").read_text().splitlines()[0].split(",")
    assert {"kid_mean", "white_box.f1_mean", "white_box.top_m_accuracy_std"} <= set(csv_header)


def test_paper_values_only_where_dataset_and_protocol_match(tmp_path):
    _run(tmp_path, "lfw", "completed", auc=0.7, gap=0.5, protocol={**WU_LFW})
    _run(
        tmp_path,
        "lfw_short",
        "completed",
        auc=0.7,
        gap=0.5,
        protocol={**WU_LFW, "trainer": {"epochs": 40, "batch_size": 64}},
    )
    synthetic = {**WU_LFW, "dataset": {**WU_LFW["dataset"], "name": "synthetic"}}
    _run(tmp_path, "synthetic", "completed", auc=0.7, gap=0.5, protocol=synthetic)
    report = build_report([tmp_path], tmp_path / "out")
    by = {(r["config"]["dataset.name"], r["config"]["trainer.epochs"]): r["paper"] for r in report["table"]}
    assert by[("lfw", 400)] == {"paper.lfw.auc": "0.729", "paper.lfw.f1": "0.565", "paper.lfw.gap": "0.581"}
    assert by[("lfw", 40)] == {} and by[("synthetic", 400)] == {}


def test_runs_csv_latex_and_described_headline(tmp_path):
    for seed in range(2):
        run = _run(tmp_path, f"r{seed}", "completed", auc=0.7 + 0.1 * seed, gap=0.1, seed=seed)
        results = json.loads((run / "results.json").read_text())
        results["attacks"]["white_box"].update(auc_ci=[0.6 + 0.1 * seed, 0.8 + 0.1 * seed], tpr_at_1pct_fpr=0.05)
        results["figures"] = {
            "white_box.auc": {"headline": True},
            "white_box.auc_ci": {"headline": True},
            "white_box.tpr_at_1pct_fpr": {"headline": True},
            "white_box.f1": {"headline": False},
        }
        (run / "results.json").write_text(json.dumps(results))
    report = build_report([tmp_path], tmp_path / "out", latex=True)
    header = [c.strip() for c in report["markdown"].splitlines()[0].strip("|").split("|")]
    assert header[-3:] == ["white_box.auc", "white_box.auc_ci", "white_box.tpr_at_1pct_fpr"]
    assert "[0.650, 0.850]" in report["markdown"]  # the interval's ends, averaged over the seeds
    runs = (tmp_path / "out" / "runs.csv").read_text().splitlines()
    assert len(runs) == 3 and "white_box.auc_ci_low" in runs[0] and runs[1].split(",")[1:3] == ["0", "completed"]
    tex = (tmp_path / "out" / "report.tex").read_text()
    # a paper's table: booktabs said, a caption naming the sweep, readable headers, mean ± std cells
    assert tex.startswith("% needs \\usepackage{booktabs}") and "\\caption{Sweep " in tex and "$\\pm$" in tex
    assert "white\\_box AUC & white\\_box AUC 95\\% CI & white\\_box TPR@1\\%FPR" in tex


def test_cli_errors_on_missing_path(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "privgan_runner.report", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert out.returncode == 2 and "no such run folder" in out.stderr


def test_a_damaged_results_json_is_marked_unreadable_not_a_crash(tmp_path):
    _run(tmp_path, "ok", "completed", auc=0.6, gap=1.0)
    damaged = _run(tmp_path, "cut", "completed", regularizer="weight_clip", auc=0.9, gap=1.0)
    text = (damaged / "results.json").read_text()
    (damaged / "results.json").write_text(text[: len(text) // 2])  # a copy cut short
    import yaml

    (damaged / ".hydra").mkdir()
    (damaged / ".hydra" / "config.yaml").write_text(yaml.safe_dump(json.loads(text)["config"]))
    report = build_report([tmp_path], tmp_path / "out")
    rows = {r["config"]["regularizer.name"]: r for r in report["table"]}
    assert rows["weight_clip"]["figures"]["white_box.auc"] == "unreadable" and rows["weight_clip"]["failed"] == 1
    assert rows["none"]["figures"]["white_box.auc"]["mean"] == pytest.approx(0.6)


def test_a_label_leaves_out_a_key_its_configuration_does_not_have():
    from privgan_runner.report.__main__ import _label

    columns = ["privacy.name", "privacy.lam"]
    assert _label({"config": {"privacy.name": "pigan", "privacy.lam": 1.0}}, columns) == "privacy=pigan privacy.lam=1"
    assert _label({"config": {"privacy.name": "dpsgd"}}, columns) == "privacy=dpsgd"


def test_an_interrupted_run_is_not_shown_as_running(tmp_path):
    _run(tmp_path, "ok", "completed", auc=0.6, gap=1.0)
    stopped = _run(tmp_path, "stopped", "failed", regularizer="weight_clip")  # no results.json, Hydra's record
    (stopped / "status.json").write_text(json.dumps({"status": "interrupted", "stage": "train", "message": "SIGTERM"}))
    rows = {r["config"]["regularizer.name"]: r for r in build_report([tmp_path], tmp_path / "out")["table"]}
    assert rows["weight_clip"]["figures"]["white_box.auc"] == "interrupted"


def test_a_run_written_before_a_key_existed_joins_its_configuration(tmp_path):
    """An older run folder lacks `trainer.precision` and the whole audit group that newer runs record: the report
    takes their current defaults (trainer/default.yaml, audit=none) and says so, instead of a row per era and a
    column `audit._target_`."""
    new = _run(tmp_path, "new", "completed", auc=0.6, gap=1.0, seed=1)
    _run(tmp_path, "old", "completed", auc=0.7, gap=1.2, seed=0)
    results = json.loads((new / "results.json").read_text())
    results["config"]["trainer"]["precision"] = "tf32"
    results["config"]["audit"] = {"_target_": "privgan_runner.audit.auditor.Audit", "name": "none", "canaries": None}
    (new / "results.json").write_text(json.dumps(results))
    report = build_report([tmp_path], tmp_path / "out")
    assert len(report["table"]) == 1 and report["table"][0]["completed"] == 2
    assert not any(c.startswith("audit.") or c == "trainer.precision" for c in report["columns"])
    assert "taken at today's defaults" in report["markdown"] and "audit.canaries" in report["markdown"]
    runs = (tmp_path / "out" / "runs.csv").read_text().splitlines()
    assert runs[0].endswith("filled_from_defaults") and any("audit.name" in line for line in runs[1:])


def test_running_and_stale_are_one_word_in_the_table_and_in_runs_csv(tmp_path):
    """status.json says running: a run whose folder a process holds is running; one nobody holds was killed
    (stale). Neither is counted failed, and report.md and runs.csv use the same word."""
    from privgan_runner.run_folder import RunFolder

    _run(tmp_path, "ok", "completed", auc=0.6, gap=1.0)
    live = _run(tmp_path, "live", "failed", regularizer="weight_clip")
    killed = _run(tmp_path, "killed", "failed", regularizer="spectral_norm")
    for run in (live, killed):
        (run / "status.json").write_text(json.dumps({"status": "running", "stage": "train", "message": ""}))
    with RunFolder(live).lock():
        report = build_report([tmp_path], tmp_path / "out")
    rows = {r["config"]["regularizer.name"]: r for r in report["table"]}
    assert rows["weight_clip"]["running"] == 1 and rows["weight_clip"]["failed"] == 0
    assert rows["spectral_norm"]["stale"] == 1 and rows["spectral_norm"]["failed"] == 0
    assert rows["spectral_norm"]["figures"]["white_box.auc"] == "stale"
    header = report["markdown"].splitlines()[0]
    assert "| running |" in header and "| stale |" in header
    runs = {line.split(",")[0]: line.split(",")[2] for line in (tmp_path / "out" / "runs.csv").read_text().splitlines()}
    assert runs[str(live)] == "running" and runs[str(killed)] == "stale"


def test_a_key_without_a_default_keeps_the_runs_apart_and_says_so(tmp_path):
    """trainer.n_critic's default is an interpolation (the objective's): nothing to take, so the runs stay apart,
    and report.md names the key instead of splitting them silently."""
    new = _run(tmp_path, "new", "completed", auc=0.6, gap=1.0, seed=1)
    _run(tmp_path, "old", "completed", auc=0.7, gap=1.2, seed=0)
    results = json.loads((new / "results.json").read_text())
    results["config"]["trainer"]["n_critic"] = 1
    (new / "results.json").write_text(json.dumps(results))
    report = build_report([tmp_path], tmp_path / "out")
    assert len(report["table"]) == 2 and "Runs that lack trainer.n_critic" in report["markdown"]


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: r.__setitem__("attacks", "x"),
        lambda r: r.__setitem__("config", [1, 2]),
        lambda r: [1, 2],
    ],
    ids=["attacks-a-string", "config-a-list", "results-a-list"],
)
def test_a_hand_edited_results_json_of_another_shape_is_unreadable_not_a_crash(tmp_path, edit):
    run = _run(tmp_path, "edited", "completed", auc=0.6, gap=1.0)
    _run(tmp_path, "ok", "completed", auc=0.7, gap=1.0, seed=1)
    results = json.loads((run / "results.json").read_text())
    edited = edit(results)
    (run / "results.json").write_text(json.dumps(results if edited is None else edited))
    report = build_report([tmp_path], tmp_path / "out")
    runs = (tmp_path / "out" / "runs.csv").read_text()
    assert "unreadable" in runs and sum(r["completed"] for r in report["table"]) == 1


def test_a_sweep_ends_with_its_summary_and_the_report_command(tmp_path, capsys):
    """The sweep callback's one screen: counts by status, each job that did not complete with its stage and
    message, the report's command; printed once, whether Hydra ends the sweep or a job raised."""
    import privgan_runner as pr
    from privgan_runner.errors import ConfigError
    from privgan_runner.report.sweep_summary import SweepSummary

    from .conftest import TINY

    sweep = tmp_path / "sweep"
    pr.run([*TINY, "metric=[gen_gap]"], run_dir=sweep / "0")
    with pytest.raises(ConfigError):
        pr.run([*TINY, "trainer.batch_size=100000"], run_dir=sweep / "1")
    SweepSummary.started = sweep
    SweepSummary.print_unfinished()
    SweepSummary.print_unfinished()  # once only
    out = capsys.readouterr().out
    assert out.count("2 jobs -- 1 completed, 1 failed") == 1
    assert f"failed       {sweep / '1'}: stage config, trainer.batch_size" in out
    assert f"python -m privgan_runner.report {sweep}" in out


def test_a_categorical_sweep_gets_its_comparison_plot(tmp_path):
    """regularizer=none,spectral_norm: no numeric knob, so each figure is drawn per configuration (mean ± std
    over seeds), titled from the figure descriptions, with the no-leak level of an AUC."""
    import privgan_runner as pr
    from privgan_runner.report.__main__ import build_report
    from privgan_runner.report.plots import chance_level, figure_title

    from .conftest import TINY

    for i, reg in enumerate(("none", "spectral_norm")):
        pr.run([*TINY, f"regularizer={reg}", "metric=[gen_gap]"], run_dir=tmp_path / "sweep" / str(i))
    report = build_report([tmp_path / "sweep"], tmp_path / "report")
    assert tmp_path / "report" / "comparison.png" in report["written"]
    described = {"white_box.auc": {"description": "ROC AUC over the attacked records"}}
    assert figure_title("white_box.auc", described) == "white_box: ROC AUC over the attacked\nrecords"  # wrapped
    assert chance_level(report["table"], "white_box.auc") == 0.5 and chance_level(report["table"], "gen_gap") is None


def test_attacks_with_identical_scores_are_drawn_once():
    import numpy as np

    from privgan_runner.plots import merged_identical

    m, s = np.array([True, False, True]), np.array([0.3, 0.1, 0.9])
    merged = merged_identical({"white_box": (m, s), "top_m": (m, s.copy()), "tvd": (m, s[::-1].copy())})
    assert list(merged) == ["white_box = top_m", "tvd"]
