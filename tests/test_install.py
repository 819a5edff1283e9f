"""A non-editable install carries the configs; the benchmark runs and prints its ratio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from .conftest import REPO


def test_wheel_ships_every_config_and_composes_from_it(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in (REPO / "conf").rglob("*.yaml"):
        assert f"privgan_runner/conf/{path.relative_to(REPO / 'conf')}" in names, path
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    code = (
        "from hydra import compose, initialize_config_module; import privgan_runner, os;"
        "initialize_config_module('privgan_runner.conf', version_base='1.3').__enter__();"
        "cfg = compose('config', overrides=['regularizer=spectral_norm']);"
        "print(privgan_runner.__file__, cfg.regularizer.name, cfg.trainer.lr)"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert str(tmp_path / "site") in out.stdout and "spectral_norm 0.0002" in out.stdout


@pytest.mark.slow  # trains for long or runs subprocesses: make test-all
def test_bench_prints_the_ratio(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "bench.py"),
            "--device",
            "cpu",
            "--steps",
            "6",
            "--width",
            "8",
            "--members",
            "128",
            "--batch-size",
            "16",
            "--json",
            str(tmp_path / "b.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "ratio ours / naive" in out.stdout
    import json

    figures = json.loads((tmp_path / "b.json").read_text())
    assert figures["naive_steps_per_s"] > 0 and figures["ours_steps_per_s"] > 0
    assert figures["ours_gflops_per_s"] == pytest.approx(
        figures["flops_per_step"] * figures["ours_steps_per_s"] / 1e9, rel=0.01, abs=1e-3
    )


def test_bench_counts_a_steps_flops_by_hand():
    """Linear G (4 -> 6) and D (6 -> 1), batch B: G forward 2*B*4*6; D forward three times 2*B*6; D's weight
    gradient twice in the D step (2*B*6 each); the G step's D backward (weight and input, 2*B*6 each) and G's
    weight gradient (2*B*4*6): 180 B in all."""
    import torch

    sys.path.insert(0, str(REPO / "scripts"))
    import bench

    from privgan_runner.objectives.js import JS

    G, D = torch.nn.Linear(4, 6), torch.nn.Linear(6, 1)
    assert bench.step_flops(G, D, JS(), 2, (6,), 4) == 180 * 2
    assert bench.step_flops(G, D, JS(), 5, (6,), 4) == 180 * 5


def test_bench_builds_the_papers_conditional_dcgan(tmp_path):
    """--model pigan_dcgan --arch cifar10: the PIGAN paper's 32x32x3 conditional DCGAN, with labels, counted."""
    sys.path.insert(0, str(REPO / "scripts"))
    import bench

    args = ["--device", "cpu", "--model", "pigan_dcgan", "--arch", "cifar10", "--dataset", "synthetic"]
    figures = bench.main([*args, "--steps", "2", "--members", "64", "--batch-size", "8"])
    assert (figures["model"], figures["arch"], figures["image_size"]) == ("pigan_dcgan", "cifar10", 32)
    assert figures["precision"] == "fp32" and figures["ours_steps_per_s"] > 0 and figures["naive_steps_per_s"] > 0
    # the count is that of the conditional step (G and D given the labels)
    from privgan_runner.models.pigan_dcgan import PiganDCGAN
    from privgan_runner.objectives.js import JS

    G, D = PiganDCGAN(arch="cifar10").build(32, 3, 10)
    assert figures["flops_per_step"] == bench.step_flops(G, D, JS(), 8, (3, 32, 32), 100, n_classes=10)
    with pytest.raises(SystemExit, match="channel"):
        bench.main(["--device", "cpu", "--model", "pigan_dcgan", "--arch", "cifar10", "--dataset", "digits"])


def test_distance_benchmark_reports_both_errors():
    sys.path.insert(0, str(REPO / "scripts"))
    import bench_distances

    figures = bench_distances.main(["--records", "50", "--samples", "300", "--dim", "64", "--check", "50"])
    assert figures["ratio"] > 0 and figures["max_error_expansion_fp64"] < 1e-10
    assert figures["max_error_pairwise_fp32"] > figures["max_error_expansion_fp64"]


def test_bench_prices_the_dp_d_update_against_the_plain_one():
    sys.path.insert(0, str(REPO / "scripts"))
    import bench

    args = ["--privacy", "dpsgd", "--device", "cpu", "--steps", "8", "--batch-size", "8", "--width", "8"]
    figures = bench.main([*args, "--members", "64", "--dataset", "synthetic", "--rounds", "3"])
    assert figures["d_update_ms_plain"] > 0 and figures["d_update_ms_opacus"] > 0
    # the ratio is the median over interleaved rounds of the within-round ratio
    rounds = figures["d_update_ms_rounds"]
    within = sorted(o / p for o, p in zip(rounds["opacus"], rounds["plain"]))
    assert figures["dp_cost_ratio_opacus"]["median"] == pytest.approx(within[len(within) // 2], rel=0.01)
    assert figures["dp_cost_ratio_opacus"]["min"] <= figures["dp_cost_ratio_opacus"]["median"]


def test_the_gpu_check_runs_at_toy_size_and_writes_its_table(tmp_path):
    """scripts/gpu_check.py --tiny on the CPU: every check runs (capture is off there, so the captured and the
    eager step are the same computation and must agree exactly), and the JSON and the table are written."""
    sys.path.insert(0, str(REPO / "scripts"))
    import gpu_check

    report = gpu_check.main(["--tiny", "--device", "cpu", "--out", str(tmp_path)])
    assert report["errors"] == {}, report["errors"]
    assert [row["setting"] for row in report["throughput"]][0] == "eager, TF32"
    assert all(row["steps_per_s"] > 0 and row["share_of_peak"] is None for row in report["throughput"])
    equal = report["capture_equals_eager"]
    assert equal["captured"] is False and equal["max_abs_difference"] == 0.0 and equal["steps"] >= 4
    assert [row["image_size"] for row in report["dp_update"]] == [16, 32]
    assert all(row["dp_cost_ratio_fast"]["median"] > 0 for row in report["dp_update"])
    assert report["default_experiment"]["steps"] > 0 and 0 <= report["default_experiment"]["white_box_auc"] <= 1
    written = json.loads((tmp_path / "gpu_check.json").read_text())
    assert written["device_name"] == "CPU" and written["throughput"] == report["throughput"]
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| captured, bf16, channels_last |" in table and "Default experiment:" in table


def test_the_docs_site_builds_strictly(tmp_path):
    """make docs: MkDocs with --strict, so a broken link or an API page whose docstring does not render fails
    the suite; every page is in the navigation."""
    import yaml

    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]
    listed = {page for entry in nav for page in entry.values()}
    assert listed == {p.name for p in (REPO / "docs").glob("*.md")}
    assert (tmp_path / "site" / "api" / "index.html").read_text().count("save_samples") >= 1
