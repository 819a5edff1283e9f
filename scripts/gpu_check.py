#!/usr/bin/env python
"""Every GPU figure the docs quote (docs/speed.md), in one run (`make gpu-check`): a GPU is lent only now and
then, so the figures are taken together, on one machine, on one date, and written as one JSON and one markdown
table.

    python scripts/gpu_check.py [--out gpu_check] [--device cuda] [--peak-tflops-tf32 X --peak-tflops-bf16 Y]
    python scripts/gpu_check.py --tiny --device cpu     # the same checks at toy sizes (the test suite runs this)

What it measures (each a function below; sizes in SIZES):
- throughput: the PIGAN paper's Fashion-MNIST conditional DCGAN (bench.py --model pigan_dcgan) at batch 128,
  eager, captured as one CUDA graph, captured + bf16, captured + channels_last: G+D steps/s and the share of
  the GPU's peak (its dense TF32 / BF16 figure: from --peak-tflops-*, else a table of known GPUs, else none);
- capture_equals_eager: the captured step against the eager one over 50 steps from the same seed: the largest
  difference of G's parameters (within float tolerance; on a CPU capture is off and both are eager);
- dp_update: DP-SGD's D update against the plain one, Opacus' hooks and the fast path (bench.py --privacy
  dpsgd, interleaved rounds, median ratios);
- distances: nearest-sample distances, 10^4 records against 10^5 samples (bench_distances.py);
- default_experiment: the wall time of `python -m privgan_runner` with the default config.

Output: <out>/gpu_check.json (every figure, with device, torch version and date) and <out>/gpu_check.md (the
table the docs quote). A check that fails is recorded with its error and the others still run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import bench  # noqa: E402
import bench_distances  # noqa: E402

from privgan_runner.training.devices import resolve_device  # noqa: E402

#: dense peak TFLOP/s (TF32, BF16) of GPUs this is likely to meet, by a substring of the device's name
PEAKS = {"H200": (494.7, 989.4), "H100": (494.7, 989.4), "A100": (156.0, 312.0), "L40S": (183.0, 362.0)}
SIZES = {
    "full": {"steps": 300, "members": 4096, "equal_steps": 50, "records": 10_000, "samples": 100_000, "rounds": 5},
    "tiny": {"steps": 4, "members": 256, "equal_steps": 4, "records": 50, "samples": 500, "rounds": 2},
}
#: the default experiment at toy size (--tiny): one epoch on a small split
TINY_RUN = ("trainer.epochs=1", "dataset.max_samples=128", "trainer.batch_size=16", "metric=[]", "trainer.threads=1")


def peaks(device: torch.device, args) -> tuple[float | None, float | None]:
    if args.peak_tflops_tf32 or args.peak_tflops_bf16:
        return args.peak_tflops_tf32, args.peak_tflops_bf16
    if device.type != "cuda":
        return None, None
    name = torch.cuda.get_device_name(device)
    return next((p for key, p in PEAKS.items() if key in name), (None, None))


def throughput(device: torch.device, size: dict, peak_tf32, peak_bf16) -> list[dict]:
    """The PIGAN F-MNIST model's G+D steps/s in four settings, and the share of the peak each reaches."""
    common = ["--device", str(device), "--model", "pigan_dcgan", "--arch", "fashion_mnist", "--dataset", "synthetic"]
    common += ["--batch-size", "128" if size is SIZES["full"] else "16", "--members", str(size["members"])]
    common += ["--steps", str(size["steps"]), "--rounds", "1"]
    rows = []
    for label, extra, peak in (
        ("eager, TF32", ["--precision", "tf32"], peak_tf32),
        ("captured, TF32", ["--precision", "tf32", "--cuda-graph"], peak_tf32),
        ("captured, bf16", ["--precision", "bf16", "--cuda-graph"], peak_bf16),
        ("captured, bf16, channels_last", ["--precision", "bf16", "--cuda-graph", "--channels-last"], peak_bf16),
    ):
        figures = bench.main([*common, *extra])
        rate, flops = figures["ours_steps_per_s"], figures["flops_per_step"]
        rows.append(
            {
                "setting": label,
                "steps_per_s": rate,
                "naive_steps_per_s": figures["naive_steps_per_s"],
                "gflop_per_step": round(flops / 1e9, 4),
                "share_of_peak": None if peak is None else round(flops * rate / (peak * 1e12), 5),
                "peak_tflops": peak,
            }
        )
    return rows


def capture_equals_eager(device: torch.device, size: dict) -> dict:
    """Train the same model from the same seed eagerly and captured for `equal_steps` steps: G's largest
    parameter difference (bitwise equality is not expected: a graph may pick other kernels)."""
    from privgan_runner.models.pigan_dcgan import PiganDCGAN
    from privgan_runner.objectives.js import JS
    from privgan_runner.privacy.none import NoPrivacy
    from privgan_runner.regularizers.none import NoRegularizer
    from privgan_runner.training.trainer import Trainer

    batch = 128 if size is SIZES["full"] else 16
    steps = size["equal_steps"]
    pool = bench.load_pool("synthetic", 28, 1)
    images, labels = pool.images, pool.labels
    epochs = -(-steps // (len(images) // batch))
    model = PiganDCGAN(arch="fashion_mnist")
    params = {}
    for captured in (False, True):
        torch.manual_seed(0)
        G, D = model.build(28, 1, pool.n_classes)
        trainer = Trainer(epochs=epochs, batch_size=batch, device=str(device), progress=False, cuda_graph=captured)
        torch.manual_seed(1)
        result = trainer.fit(
            G, D, JS(), NoRegularizer(), images, labels, z_dim=model.z_dim, conditional=True,
            n_classes=pool.n_classes, privacy=NoPrivacy(),
        )  # fmt: skip
        params[captured] = (torch.cat([p.detach().flatten().cpu() for p in G.parameters()]), result)
    (eager, _), (graph, graph_result) = params[False], params[True]
    diff = float((eager - graph).abs().max())
    scale = float(eager.abs().max())
    return {
        "steps": graph_result.steps,
        "captured": graph_result.cuda_graph,
        "max_abs_difference": diff,
        "relative_to_largest_parameter": diff / scale if scale else diff,
        "equal_within_tolerance": diff <= 1e-3 * max(scale, 1.0),
    }


def dp_update(device: torch.device, size: dict) -> list[dict]:
    rows = []
    for image_size in (16, 32):
        args = ["--privacy", "dpsgd", "--device", str(device), "--image-size", str(image_size)]
        args += ["--steps", str(8 * size["rounds"]), "--rounds", str(size["rounds"]), "--members", str(size["members"])]
        rows.append(bench.main(args if size is SIZES["full"] else [*args, "--width", "8", "--batch-size", "8"]))
    return rows


def distances(device: torch.device, size: dict) -> dict:
    args = ["--records", str(size["records"]), "--samples", str(size["samples"]), "--device", str(device)]
    return bench_distances.main([*args, "--check", "50"])


def default_experiment(device: torch.device, tiny: bool) -> dict:
    """`python -m privgan_runner` with the default config (at toy size with --tiny), timed from outside."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "privgan_runner", f"hydra.run.dir={folder}/run", f"trainer.device={device}"]
        command += ["trainer.progress=false", *(TINY_RUN if tiny else ())]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"exit {done.returncode}: {done.stderr[-2000:]}")
        results = json.loads((Path(folder) / "run" / "results.json").read_text())
    white_box = results.get("attacks", {}).get("white_box", {})
    return {
        "seconds": round(seconds, 1),
        "train_seconds": results["train"]["seconds"],
        "steps": results["train"]["steps"],
        "white_box_auc": white_box.get("auc"),
        "fid": results.get("metrics", {}).get("fid"),
    }


def table(report: dict) -> str:
    """The markdown the docs quote."""
    lines = [f"GPU check: {report['device_name']}, torch {report['torch']}, {report['date']}", ""]
    lines += ["| PIGAN F-MNIST DCGAN | G+D steps/s | naive loop | share of peak |", "|---|---|---|---|"]
    for row in report.get("throughput") or []:
        share = "--" if row["share_of_peak"] is None else f"{row['share_of_peak']:.1%}"
        lines.append(f"| {row['setting']} | {row['steps_per_s']} | {row['naive_steps_per_s']} | {share} |")
    equal = report.get("capture_equals_eager")
    if isinstance(equal, dict) and "max_abs_difference" in equal:
        lines += ["", f"Captured vs eager over {equal['steps']} steps: max |dG| {equal['max_abs_difference']:.3g} "]
        lines[-1] += f"({'within' if equal['equal_within_tolerance'] else 'OUTSIDE'} tolerance)"
    lines += ["", "| DP-SGD D update | plain ms | Opacus (x plain) | fast (x plain) |", "|---|---|---|---|"]
    for row in report.get("dp_update") or []:
        o, f = row["dp_cost_ratio_opacus"], row["dp_cost_ratio_fast"]
        lines.append(
            f"| {row['image_size']}x{row['image_size']}, batch {row['batch_size']} | {row['d_update_ms_plain']} | "
            f"{o['median']} ({o['min']}-{o['max']}) | {f['median']} ({f['min']}-{f['max']}) |"
        )
    d = report.get("distances")
    if isinstance(d, dict) and "ratio" in d:
        lines += ["", f"Nearest-sample distances: {json.dumps(d)}"]
    run = report.get("default_experiment")
    if isinstance(run, dict) and "seconds" in run:
        lines += ["", f"Default experiment: {run['seconds']} s wall ({run['train_seconds']} s training, "]
        lines[-1] += f"{run['steps']} steps), white-box AUC {run['white_box_auc']}, FID {run['fid']}"
    for name, error in report.get("errors", {}).items():
        lines += ["", f"{name} FAILED: {error.splitlines()[-1]}"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=Path("gpu_check"))
    p.add_argument("--tiny", action="store_true", help="toy sizes: checks the script itself, on any device")
    p.add_argument("--peak-tflops-tf32", type=float)
    p.add_argument("--peak-tflops-bf16", type=float)
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    size = SIZES["tiny" if args.tiny else "full"]
    peak_tf32, peak_bf16 = peaks(device, args)
    report: dict = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "tiny": args.tiny,
        "errors": {},
    }
    checks = {
        "throughput": lambda: throughput(device, size, peak_tf32, peak_bf16),
        "capture_equals_eager": lambda: capture_equals_eager(device, size),
        "dp_update": lambda: dp_update(device, size),
        "distances": lambda: distances(device, size),
        "default_experiment": lambda: default_experiment(device, args.tiny),
    }
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            report[name] = check()
        except Exception:  # one failed check never loses the others' figures
            report[name] = None
            report["errors"][name] = traceback.format_exc()
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "gpu_check.md").write_text(table(report))
    print(table(report))
    return report


if __name__ == "__main__":
    main()
