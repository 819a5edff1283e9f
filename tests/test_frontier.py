"""The privacy-utility frontier (report/frontier.py): which attacks count under each threat model, which
configurations no other beats, and the report's frontier files from run folders."""

from __future__ import annotations

import json
import subprocess

import pytest

from privgan_runner.report.__main__ import build_report
from privgan_runner.report.frontier import learned, pareto, run_leak

from .conftest import REPO, compose_config, options
from .test_readme import commands_in, jobs


def _results(mechanism: str, releases_d: bool, white_box: float, distance: float, gen2real: float) -> dict:
    return {
        "status": "completed",
        "seed": 0,
        "config": {"seed": 0, "privacy": {"name": mechanism}, "regularizer": {"name": "none"}},
        "privacy": {"mechanism": mechanism, "releases_discriminator": releases_d, "epsilon": None},
        "attacks": {
            "white_box": {"tpr_at_1pct_fpr": white_box, "tpr_at_1pct_fpr_ci": [0.0, 0.5], "reads_discriminator": True},
            "distance": {"tpr_at_1pct_fpr": distance, "tpr_at_1pct_fpr_ci": [0.0, 0.3], "reads_discriminator": False},
        },
        "metrics": {"gen2real_accuracy": gen2real, "classification_n_real": 200, "gen2real_accuracy_chance": 0.1},
    }


def test_each_threat_model_reads_only_its_attacks():
    plain = _results("none", True, white_box=0.4, distance=0.1, gen2real=0.8)
    assert run_leak(plain, "G released") == {"attack": "distance", "tpr": 0.1, "ci": [0.0, 0.3]}
    assert run_leak(plain, "G and D released")["attack"] == "white_box"
    gswgan = _results("gswgan", False, white_box=0.9, distance=0.05, gen2real=0.3)  # D never released
    assert run_leak(gswgan, "G and D released") is None and run_leak(gswgan, "G released")["tpr"] == 0.05
    unknown = {"attacks": {"old": {"tpr_at_1pct_fpr": 0.2}}, "privacy": {}}  # written before the flag: reads D
    assert run_leak(unknown, "G released") is None and run_leak(unknown, "G and D released")["tpr"] == 0.2


def test_a_configuration_learned_when_its_pooled_gen2real_clears_chance():
    def runs(*accuracies):
        return [{"metrics": {"gen2real_accuracy": a, "classification_n_real": 200, "gen2real_accuracy_chance": 0.1}}
                for a in accuracies]  # fmt: skip

    assert learned(runs(0.2, 0.18, 0.21)) is True
    assert learned(runs(0.11, 0.09, 0.12)) is False  # 64 of 600 right: within chance's interval
    assert learned(runs(0.5, None)) is None  # a run without the figure: unknown, not a failure
    digits = {"config": {"dataset": {"_target_": "privgan_runner.data.digits.Digits"}}}  # before the chance figure
    assert learned([{**digits, "metrics": {"gen2real_accuracy": 0.3, "classification_n_real": 100}}]) is True
    elsewhere = {"config": {"dataset": {"_target_": "not_installed.Dataset"}}}  # a class this machine lacks: unknown
    assert learned([{**elsewhere, "metrics": {"gen2real_accuracy": 0.3, "classification_n_real": 100}}]) is None


def test_the_frontier_keeps_what_nothing_beats():
    points = [(0.4, 0.8), (0.1, 0.5), (0.2, 0.4), (0.1, 0.3), (0.4, 0.8)]
    assert pareto(points, higher_is_better=True) == [0, 1, 4]  # ties with each other both stay
    assert pareto([(0.1, 50.0), (0.2, 30.0), (0.3, 40.0)], higher_is_better=False) == [0, 1]  # FID: lower better


def test_the_report_writes_the_frontier(tmp_path):
    cases = {
        "none": (True, 0.4, 0.1, 0.8),
        "dpsgd": (True, 0.02, 0.01, 0.5),
        "gswgan": (False, 0.5, 0.03, 0.4),
        "dpgan": (True, 0.0, 0.0, 0.11),  # leaks nothing and learned nothing: shown, never on the frontier
    }
    for i, (mechanism, (releases_d, wb, dist, util)) in enumerate(cases.items()):
        for seed in range(2):
            run = tmp_path / "sweep" / f"{i}_{seed}"
            run.mkdir(parents=True)
            results = _results(mechanism, releases_d, wb + 0.01 * seed, dist, util)
            results["config"]["seed"] = results["seed"] = seed
            (run / "results.json").write_text(json.dumps(results))
            (run / "status.json").write_text(json.dumps({"status": "completed", "stage": "plots", "message": ""}))
    report = build_report([tmp_path / "sweep"], tmp_path / "out", frontier=True)
    assert tmp_path / "out" / "frontier.png" in report["written"]
    table = (tmp_path / "out" / "frontier.md").read_text()
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| G")]
    on = {(r[0].strip("| "), r[1]) for r in rows if r[-1].strip(" |") == "yes"}
    # G released: none (most utility), dpsgd (least leak); gswgan leaks more than dpsgd with less utility
    assert on == {
        ("G released", "none"),
        ("G released", "dpsgd"),
        ("G and D released", "none"),
        ("G and D released", "dpsgd"),
    }
    assert not any(r[0].strip("| ") == "G and D released" and r[1] == "gswgan" for r in rows)
    learned = {r[1]: r[-2] for r in rows}
    assert learned == {"none": "yes", "dpsgd": "yes", "gswgan": "yes", "dpgan": "NO"}  # named by mechanism
    assert "descriptive" in table


def frontier_jobs(*make_args: str) -> list[list[str]]:
    """The jobs `make frontier` runs, one override list per cell (seed 0), read from what make would run."""
    printed = subprocess.run(
        ["make", "-n", "frontier", *make_args], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    (command,) = [c for c in commands_in(printed) if "+experiment=frontier" in c]
    return [j for j in jobs(command) if "seed=0" in j]


def test_the_grid_is_every_cell_of_conf_frontier():
    cells = [o.split("=", 1)[1] for j in frontier_jobs("QUICK=1") for o in j if o.startswith("+frontier=")]
    assert sorted(cells) == options("frontier") and len(cells) == 20


@pytest.mark.parametrize("overrides", frontier_jobs("QUICK=1"), ids=lambda j: next(o for o in j if "+frontier" in o))
def test_every_quick_cell_is_accepted(overrides, tmp_path):
    """Each cell of `make frontier QUICK=1`, built and checked against its data (check_only), so the target
    cannot rot; the mechanism is the cell's."""
    from privgan_runner.pipeline import run

    cfg = compose_config(*overrides, "check_only=true")
    cell = next(o for o in overrides if o.startswith("+frontier=")).split("=")[1]
    assert cfg.privacy.name == (
        "none" if cell in ("none", "weight_clip", "spectral_norm", "gradient_penalty") else cell.split("_")[0]
    )
    assert run(cfg, run_dir=tmp_path / "run")["status"] == "checked"
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # loads Fashion-MNIST once per cell
@pytest.mark.parametrize("overrides", frontier_jobs(), ids=lambda j: next(o for o in j if "+frontier" in o))
def test_every_full_protocol_cell_is_accepted(overrides, tmp_path):
    from privgan_runner.errors import DatasetNotFoundError
    from privgan_runner.pipeline import run

    cfg = compose_config(*overrides, "check_only=true")
    try:
        assert run(cfg, run_dir=tmp_path / "run")["status"] == "checked"
    except DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not on this machine (make data)")
