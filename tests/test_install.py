"""A non-editable install carries the configs; the benchmark runs and prints its ratio."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

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
