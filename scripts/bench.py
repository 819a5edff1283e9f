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
    python scripts/bench.py --model pigan_dcgan --arch fashion_mnist --dataset synthetic --batch-size 128 \
        --device cuda --cuda-graph --precision bf16  # the PIGAN paper's conditional DCGAN

`--privacy dpsgd` instead times the discriminator update alone, DP-SGD's (per-sample gradients, clipping,
noise) against the plain one on the same batches and model, for both per-sample gradient paths (Opacus'
hooks and ghost clipping, privacy.grad_sample), and prints the ratio of each cost to the plain one.

Contenders are timed interleaved (A B A B ..., `--rounds` rounds), so drift of a noisy machine moves both
alike; each ratio is taken within a round, and the median over rounds is printed with its spread (min - max).

`--precision` applies to both contenders (TF32 on or off, or bf16 autocast around the naive loop's
forwards and losses as around our step), so the ratio measures the loop and not the arithmetic.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from privgan_runner.data.digits import Digits  # noqa: E402
from privgan_runner.data.fashion_mnist import FashionMNIST  # noqa: E402
from privgan_runner.data.synthetic import Synthetic  # noqa: E402
from privgan_runner.models.dcgan import DCGAN  # noqa: E402
from privgan_runner.models.pigan_dcgan import PiganDCGAN  # noqa: E402
from privgan_runner.objectives.js import JS  # noqa: E402
from privgan_runner.privacy.none import NoPrivacy  # noqa: E402
from privgan_runner.regularizers.none import NoRegularizer  # noqa: E402
from privgan_runner.training.devices import keep_freed_memory, resolve_device  # noqa: E402
from privgan_runner.training.precision import PRECISIONS, effective_precision, tf32_scope  # noqa: E402
from privgan_runner.training.trainer import Trainer  # noqa: E402

DATASETS = {"digits": Digits, "synthetic": Synthetic, "fashion_mnist": FashionMNIST}


def interleaved(contenders: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Each contender's figure in every round, the contenders taking turns (A B C A B C ...)."""
    out: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, measure in contenders.items():
            out[name].append(measure())
    return out


def ratio_summary(numerator: list[float], denominator: list[float]) -> dict:
    """Median, min and max over rounds of the within-round ratio numerator / denominator."""
    ratios = [a / b for a, b in zip(numerator, denominator)]
    return {"median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3), "max": round(max(ratios), 3)}


def naive_steps_per_second(G, D, images, labels, objective, args, device, lr) -> float:
    """A notebook's loop; `labels` is None for an unconditional model (else G and D take the real batch's)."""
    precision = effective_precision(args.precision, device)
    with tf32_scope(precision == "tf32"):
        return _naive(G, D, images, labels, objective, args.batch_size, args.steps, device, G.z_dim, lr, precision)


def _naive(G, D, images, labels, objective, batch_size, steps, device, z_dim, lr, precision) -> float:
    data = TensorDataset(images) if labels is None else TensorDataset(images, labels)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    G.to(device).train()
    D.to(device).train()
    history, done = [], 0
    start = time.perf_counter()
    while done < steps:
        for batch in loader:
            x = batch[0].to(device)
            y = batch[1].to(device) if labels is not None else None
            with autocast:
                fake = G(torch.randn(x.shape[0], z_dim, device=device), y)
                d_loss = objective.d_loss(D(x, y), D(fake.detach(), y))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            with autocast:
                g_loss = objective.g_loss(D(fake, y))
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


def step_flops(G, D, objective, batch_size: int, image_shape, z_dim: int, n_classes: int = 0) -> int:
    """Floating-point operations of one G+D step as both contenders make it: D on a real and a generated
    batch with its backward, then D on the generated batch with G's backward (on the CPU, no update).
    With `n_classes`, G and D are conditional and take a batch of labels as well."""
    from torch.utils.flop_counter import FlopCounterMode

    G, D = G.cpu().train(), D.cpu().train()
    x = torch.zeros(batch_size, *image_shape)
    extra = (torch.arange(batch_size) % n_classes,) if n_classes else ()
    with FlopCounterMode(display=False) as counter:
        fake = G(torch.randn(batch_size, z_dim), *extra)
        objective.d_loss(D(x, *extra), D(fake.detach(), *extra)).backward()
        objective.g_loss(D(fake, *extra)).backward()
    G.zero_grad(set_to_none=True)
    D.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def ours_steps_per_second(G, D, images, labels, objective, args, device, lr, conditional: bool) -> float:
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
        precision=args.precision,
    )
    n_classes = int(labels.max()) + 1
    result = trainer.fit(
        G,
        D,
        objective,
        NoRegularizer(),
        images,
        labels,
        z_dim=G.z_dim,
        conditional=conditional,
        n_classes=n_classes,
        privacy=NoPrivacy(),
    )
    return result.steps / result.seconds


def load_pool(dataset: str, size: int, channels: int | None):
    """The benchmark's images at `size` (synthetic ones with `channels`; a real dataset must have them)."""
    if dataset == "synthetic":
        return Synthetic(image_size=size, channels=channels or 1).load()
    pool = DATASETS[dataset](image_size=size).load()
    if channels is not None and pool.images.shape[1] != channels:
        raise SystemExit(f"--dataset {dataset} has {pool.images.shape[1]} channel(s), the model needs {channels}")
    return pool


def d_update_seconds(step, batches, repeats: int, device) -> float:
    """Seconds per D update of `step` (an AdversarialStep or DPStep) over the given (x, fake) batches."""
    for x, fake in batches[:3]:  # warm up (allocator, Opacus' hooks)
        step.d_update(x, None, None, fake, None, None)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        for x, fake in batches:
            step.d_update(x, None, None, fake, None, None)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / (repeats * len(batches))


def dp_update_cost(args, device) -> dict:
    """The DP-SGD D update's cost as a ratio to the non-DP D update (same batches and device; DP-SGD's D is
    the one it trains, with BatchNorm converted to GroupNorm, so the ratio is what a DP run pays)."""
    from privgan_runner.privacy.dpsgd import DPSGD
    from privgan_runner.training.step import AdversarialStep

    torch.manual_seed(0)
    pool = load_pool(args.dataset, args.image_size, None)
    images = pool.images[: args.members].to(device)
    model, objective = DCGAN(width=args.width), JS()
    gen = torch.Generator().manual_seed(1)
    batches = [
        (
            images[torch.randperm(len(images), generator=gen)[: args.batch_size]],
            torch.rand(args.batch_size, *images.shape[1:], generator=gen).to(device) * 2 - 1,
        )
        for _ in range(8)
    ]
    trainer = Trainer(batch_size=args.batch_size, lr=2e-4, device=str(device), progress=False)
    members = (
        images,
        torch.zeros(len(images), dtype=torch.long, device=device),
        torch.zeros(len(images), dtype=torch.long, device=device),
    )

    def context():
        return trainer.step_context(device, model.z_dim, False, 0, members, args.steps)

    torch.manual_seed(0)
    G, D = model.build(args.image_size, images.shape[1], pool.n_classes)
    steps = {"plain": AdversarialStep.for_context(context(), G.to(device), D.to(device), objective, NoRegularizer())}
    for path in ("opacus", "fast"):
        torch.manual_seed(0)
        dp = DPSGD(epsilon=10.0, delta=1e-5, grad_sample=path)
        G, D = dp.build_models(model, args.image_size, images.shape[1], pool.n_classes)
        steps[path] = dp.make_step(G.to(device), D.to(device), objective, NoRegularizer(), context())
    repeats = max(1, args.steps // 8 // args.rounds)
    for step in steps.values():  # warm up (allocator, Opacus' hooks)
        d_update_seconds(step, batches[:3], 1, device)
    seconds = interleaved(
        {name: partial(d_update_seconds, step, batches, repeats, device) for name, step in steps.items()}, args.rounds
    )
    figures = {
        "device": str(device),
        "width": args.width,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "d_update_ms_plain": round(1e3 * statistics.median(seconds["plain"]), 3),
        "d_update_ms_rounds": {name: [round(1e3 * t, 3) for t in times] for name, times in seconds.items()},
    }
    for path in ("opacus", "fast"):
        figures[f"d_update_ms_{path}"] = round(1e3 * statistics.median(seconds[path]), 3)
        figures[f"dp_cost_ratio_{path}"] = ratio_summary(seconds[path], seconds["plain"])
    print(
        f"device {device}  DCGAN width {args.width} at {args.image_size}x{args.image_size}, batch {args.batch_size}, "
        f"{args.rounds} interleaved rounds"
    )
    print(f"  plain D update                  : {figures['d_update_ms_plain']:9.2f} ms (median)")
    for path, described in (("opacus", "Opacus hooks"), ("fast", "ghost clipping, grad_sample=fast")):
        ms, r = figures[f"d_update_ms_{path}"], figures[f"dp_cost_ratio_{path}"]
        print(
            f"  DP-SGD D update ({described:32s}): {ms:9.2f} ms  "
            f"({r['median']:.2f}x the plain one, median; {r['min']:.2f} - {r['max']:.2f})"
        )
    return figures


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--model", default="dcgan", choices=["dcgan", "pigan_dcgan"])
    p.add_argument("--arch", default="fashion_mnist", choices=sorted(PiganDCGAN.SHAPES), help="pigan_dcgan's")
    p.add_argument("--dataset", default="digits", choices=sorted(DATASETS))
    p.add_argument("--image-size", type=int, default=16, help="dcgan's (pigan_dcgan: the arch's)")
    p.add_argument("--width", type=int, default=64, help="dcgan's")
    p.add_argument("--precision", default="tf32", choices=PRECISIONS, help="both contenders (tf32: fp32 on a CPU)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--members", type=int, default=1024, help="records trained on")
    p.add_argument("--steps", type=int, default=300, help="G steps timed for each contender")
    p.add_argument("--cuda-graph", action="store_true", help="ours: capture the step as one CUDA graph")
    p.add_argument("--channels-last", action="store_true", help="ours: channels_last memory format")
    p.add_argument("--privacy", choices=["none", "dpsgd"], default="none", help="dpsgd: time the DP D update instead")
    p.add_argument("--peak-tflops", type=float, help="the hardware's peak, to print the achieved share of it")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds; ratios are medians over them")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument(
        "--return-freed-memory",
        action="store_true",
        help="leave the C library's default (freed CPU memory handed back to the OS); a run keeps it "
        "(trainer.keep_freed_memory), and so does the benchmark unless told",
    )
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    kept = False if args.return_freed_memory else keep_freed_memory()
    print(f"freed CPU memory kept in the process: {kept}")
    if args.privacy == "dpsgd":
        figures = {**dp_update_cost(args, device), "keep_freed_memory": kept}
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return figures
    torch.manual_seed(0)
    if args.model == "pigan_dcgan":
        model, (size, channels) = PiganDCGAN(arch=args.arch), PiganDCGAN.SHAPES[args.arch]
        described = f"PIGAN conditional DCGAN ({args.arch})"
    else:
        model, size, channels = DCGAN(width=args.width), args.image_size, None
        described = f"DCGAN width {args.width}"
    pool = load_pool(args.dataset, size, channels)
    images, labels = pool.images[: args.members], pool.labels[: args.members]
    conditional = bool(getattr(model, "conditional", False))
    objective, lr = JS(), 2e-4

    def fresh():
        torch.manual_seed(0)
        G, D = model.build(size, images.shape[1], pool.n_classes)
        return G, D

    # warm both paths once (allocator, cuDNN autotuning, thread pools) before timing
    warm = argparse.Namespace(**{**vars(args), "steps": min(20, args.steps)})
    naive_labels = labels if conditional else None
    ours_steps_per_second(*fresh(), images, labels, objective, warm, device, lr, conditional)
    naive_steps_per_second(*fresh(), images, naive_labels, objective, warm, device, lr)

    n_classes = pool.n_classes if conditional else 0
    flops = step_flops(*fresh(), objective, args.batch_size, images.shape[1:], model.z_dim, n_classes)
    per_round = argparse.Namespace(**{**vars(args), "steps": max(1, args.steps // args.rounds)})
    rates = interleaved(
        {
            "naive": lambda: naive_steps_per_second(*fresh(), images, naive_labels, objective, per_round, device, lr),
            "ours": lambda: ours_steps_per_second(
                *fresh(), images, labels, objective, per_round, device, lr, conditional
            ),
        },
        args.rounds,
    )
    naive, ours = statistics.median(rates["naive"]), statistics.median(rates["ours"])
    spread = ratio_summary(rates["ours"], rates["naive"])
    figures = {
        "device": str(device),
        "torch": torch.__version__,
        "model": args.model,
        "arch": args.arch if args.model == "pigan_dcgan" else None,
        "precision": effective_precision(args.precision, device),
        "dataset": args.dataset,
        "image_size": size,
        "width": args.width if args.model == "dcgan" else None,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "cuda_graph": args.cuda_graph,
        "channels_last": args.channels_last,
        "naive_steps_per_s": round(naive, 2),
        "ours_steps_per_s": round(ours, 2),
        "rounds": args.rounds,
        "ratio": spread,
        "flops_per_step": flops,
        "naive_gflops_per_s": round(flops * naive / 1e9, 3),
        "ours_gflops_per_s": round(flops * ours / 1e9, 3),
        "keep_freed_memory": kept,
    }
    if args.peak_tflops:
        figures["ours_share_of_peak"] = round(flops * ours / (args.peak_tflops * 1e12), 5)
    print(
        f"device {figures['device']}  {described} at {size}x{size}, {figures['precision']}, "
        f"batch {args.batch_size}, {args.steps} G+D steps each (medians over rounds)"
    )
    print(f"  one G+D step             : {flops / 1e9:9.3f} GFLOP")
    print(f"  naive DataLoader + eager : {naive:9.2f} steps/s  {flops * naive / 1e9:9.2f} GFLOP/s")
    print(
        f"  privgan_runner trainer   : {ours:9.2f} steps/s  {flops * ours / 1e9:9.2f} GFLOP/s"
        + ("  (CUDA graph)" if args.cuda_graph and device.type == "cuda" else "")
    )
    if args.peak_tflops:
        print(f"  share of {args.peak_tflops:g} TFLOP/s peak : {figures['ours_share_of_peak']:.2%}")
    print(
        f"  ratio ours / naive       : {spread['median']:9.2f}x (median of {args.rounds} interleaved rounds; "
        f"{spread['min']:.2f} - {spread['max']:.2f})"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
