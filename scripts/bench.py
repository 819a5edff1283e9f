#!/usr/bin/env python
"""Training throughput: privgan_runner's trainer against a naive DataLoader + eager loop.

Both train the same DCGAN on the same data with the same objective, batch size and number of
steps, in this one process; the figure to read is the ratio (machines differ, ratios travel).
The naive loop is what a typical notebook does: a shuffled DataLoader over CPU tensors, a copy to
the device per batch, plain Adam, and the losses read back with .item() every step.
Beside steps/s it prints the achieved FLOP/s: the floating-point operations of one G+D step
(forwards and backwards, counted by torch.utils.flop_counter) times steps/s, so a measurement can be
put next to the hardware's peak (`--peak-tflops`, e.g. the GPU's dense TF32 or BF16 figure).

    python scripts/bench.py                      # CPU or the GPU, whichever `auto` picks
    python scripts/bench.py --device cuda --cuda-graph --channels-last
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privgan_runner.data.digits import Digits  # noqa: E402
from privgan_runner.data.fashion_mnist import FashionMNIST  # noqa: E402
from privgan_runner.data.synthetic import Synthetic  # noqa: E402
from privgan_runner.models.dcgan import DCGAN  # noqa: E402
from privgan_runner.objectives.js import JS  # noqa: E402
from privgan_runner.privacy.none import NoPrivacy  # noqa: E402
from privgan_runner.regularizers.none import NoRegularizer  # noqa: E402
from privgan_runner.training.trainer import Trainer, resolve_device  # noqa: E402

DATASETS = {"digits": Digits, "synthetic": Synthetic, "fashion_mnist": FashionMNIST}


def naive_steps_per_second(G, D, images, objective, batch_size, steps, device, z_dim, lr) -> float:
    loader = DataLoader(TensorDataset(images), batch_size=batch_size, shuffle=True, drop_last=True)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    G.to(device).train()
    D.to(device).train()
    history, done = [], 0
    start = time.perf_counter()
    while done < steps:
        for (x,) in loader:
            x = x.to(device)
            fake = G(torch.randn(x.shape[0], z_dim, device=device))
            d_loss = objective.d_loss(D(x), D(fake.detach()))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = objective.g_loss(D(fake))
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            history.append((d_loss.item(), g_loss.item()))
            done += 1
            if done == steps:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def step_flops(G, D, objective, batch_size: int, image_shape, z_dim: int) -> int:
    """Floating-point operations of one G+D step as both contenders make it: D on a real and a generated
    batch with its backward, then D on the generated batch with G's backward (on the CPU, no update)."""
    from torch.utils.flop_counter import FlopCounterMode

    G, D = G.cpu().train(), D.cpu().train()
    x = torch.zeros(batch_size, *image_shape)
    with FlopCounterMode(display=False) as counter:
        fake = G(torch.randn(batch_size, z_dim))
        objective.d_loss(D(x), D(fake.detach())).backward()
        objective.g_loss(D(fake)).backward()
    G.zero_grad(set_to_none=True)
    D.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def ours_steps_per_second(G, D, images, labels, objective, args, device, lr) -> float:
    per_epoch = images.shape[0] // args.batch_size
    epochs = max(1, -(-args.steps // per_epoch))
    trainer = Trainer(
        epochs=epochs,
        batch_size=args.batch_size,
        lr=lr,
        device=str(device),
        progress=False,
        log_every=50,
        cuda_graph=args.cuda_graph,
        channels_last=args.channels_last,
    )
    result = trainer.fit(
        G, D, objective, NoRegularizer(), images, labels, z_dim=G.z_dim, conditional=False, privacy=NoPrivacy()
    )
    return result.steps / result.seconds


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--dataset", default="digits", choices=sorted(DATASETS))
    p.add_argument("--image-size", type=int, default=16)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--members", type=int, default=1024, help="records trained on")
    p.add_argument("--steps", type=int, default=300, help="G steps timed for each contender")
    p.add_argument("--cuda-graph", action="store_true", help="ours: capture the step as one CUDA graph")
    p.add_argument("--channels-last", action="store_true", help="ours: channels_last memory format")
    p.add_argument("--peak-tflops", type=float, help="the hardware's peak, to print the achieved share of it")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    torch.manual_seed(0)
    pool = DATASETS[args.dataset](image_size=args.image_size).load()
    images, labels = pool.images[: args.members], pool.labels[: args.members]
    objective, lr = JS(), 2e-4
    model = DCGAN(width=args.width)

    def fresh():
        torch.manual_seed(0)
        G, D = model.build(args.image_size, images.shape[1], pool.n_classes)
        return G, D

    # warm both paths once (allocator, cuDNN autotuning, thread pools) before timing
    warm = argparse.Namespace(**{**vars(args), "steps": 20})
    ours_steps_per_second(*fresh(), images, labels, objective, warm, device, lr)
    naive_steps_per_second(*fresh(), images, objective, args.batch_size, 20, device, model.z_dim, lr)

    flops = step_flops(*fresh(), objective, args.batch_size, images.shape[1:], model.z_dim)
    naive = naive_steps_per_second(*fresh(), images, objective, args.batch_size, args.steps, device, model.z_dim, lr)
    ours = ours_steps_per_second(*fresh(), images, labels, objective, args, device, lr)
    figures = {
        "device": str(device),
        "torch": torch.__version__,
        "dataset": args.dataset,
        "image_size": args.image_size,
        "width": args.width,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "cuda_graph": args.cuda_graph,
        "channels_last": args.channels_last,
        "naive_steps_per_s": round(naive, 2),
        "ours_steps_per_s": round(ours, 2),
        "ratio": round(ours / naive, 3),
        "flops_per_step": flops,
        "naive_gflops_per_s": round(flops * naive / 1e9, 3),
        "ours_gflops_per_s": round(flops * ours / 1e9, 3),
    }
    if args.peak_tflops:
        figures["ours_share_of_peak"] = round(flops * ours / (args.peak_tflops * 1e12), 5)
    print(
        f"device {figures['device']}  DCGAN width {args.width} at {args.image_size}x{args.image_size}, "
        f"batch {args.batch_size}, {args.steps} G+D steps each"
    )
    print(f"  one G+D step             : {flops / 1e9:9.3f} GFLOP")
    print(f"  naive DataLoader + eager : {naive:9.2f} steps/s  {flops * naive / 1e9:9.2f} GFLOP/s")
    print(
        f"  privgan_runner trainer   : {ours:9.2f} steps/s  {flops * ours / 1e9:9.2f} GFLOP/s"
        + ("  (CUDA graph)" if args.cuda_graph and device.type == "cuda" else "")
    )
    if args.peak_tflops:
        print(f"  share of {args.peak_tflops:g} TFLOP/s peak : {figures['ours_share_of_peak']:.2%}")
    print(f"  ratio ours / naive       : {ours / naive:9.2f}x")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
