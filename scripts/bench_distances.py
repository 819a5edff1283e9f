#!/usr/bin/env python
"""Nearest-sample distances: the float64 matmul expansion (attacks/distances.py) against the exact pairwise
float32 `cdist` earlier versions used, on the same records and samples in this one process; prints both
times, their ratio, and each one's largest error against a float64 pairwise reference (on a subset).

    python scripts/bench_distances.py                       # 2,000 records x 20,000 samples x 784 dims
    python scripts/bench_distances.py --records 10000 --samples 100000 --device cuda
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privgan_runner.attacks.distances import min_distance  # noqa: E402


def pairwise_fp32(records: torch.Tensor, generated: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """The earlier code: exact pairwise differences in float32 (no matmul expansion), chunked."""
    out = torch.full((records.shape[0],), float("inf"), device=records.device)
    for start in range(0, generated.shape[0], chunk):
        d = torch.cdist(records, generated[start : start + chunk], compute_mode="donot_use_mm_for_euclid_dist")
        out = torch.minimum(out, d.min(1).values)
    return out


def timed(fn, device) -> tuple[torch.Tensor, float]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=2000)
    p.add_argument("--samples", type=int, default=20000)
    p.add_argument("--dim", type=int, default=784)
    p.add_argument("--check", type=int, default=200, help="records checked against the float64 reference")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    records = (torch.rand(args.records, args.dim, generator=gen) * 2 - 1).to(device)
    generated = (torch.rand(args.samples, args.dim, generator=gen) * 2 - 1).to(device)
    min_distance(records[:10], generated[:100])  # warm both paths
    pairwise_fp32(records[:10], generated[:100])
    ours, t_ours = timed(lambda: min_distance(records, generated), device)
    old, t_old = timed(lambda: pairwise_fp32(records, generated), device)
    sub = slice(0, min(args.check, args.records))
    reference = (
        torch.cdist(records[sub].double(), generated.double(), compute_mode="donot_use_mm_for_euclid_dist")
        .min(1)
        .values
    )
    figures = {
        "device": str(device),
        "records": args.records,
        "samples": args.samples,
        "dim": args.dim,
        "seconds_expansion_fp64": round(t_ours, 3),
        "seconds_pairwise_fp32": round(t_old, 3),
        "ratio": round(t_old / t_ours, 2),
        "max_error_expansion_fp64": float((ours[sub] - reference).abs().max()),
        "max_error_pairwise_fp32": float((old[sub].double() - reference).abs().max()),
    }
    print(f"{args.records} records x {args.samples} samples x {args.dim} dims on {device}")
    print(f"  pairwise float32 (earlier) : {t_old:8.2f} s   max error {figures['max_error_pairwise_fp32']:.2e}")
    print(f"  expansion float64 (now)    : {t_ours:8.2f} s   max error {figures['max_error_expansion_fp64']:.2e}")
    print(f"  ratio                      : {figures['ratio']:8.2f}x")
    return figures


if __name__ == "__main__":
    main()
