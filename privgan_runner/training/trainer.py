"""The training loop: device-resident members, a per-epoch permutation, one step function. Its parts live
beside it: the step (step.py), its capture as a CUDA graph (capture.py), checkpoint and resume
(checkpoint.py), the loss window where divergence is decided (loss_window.py), the device (devices.py), a
signal's stop request (stop.py).

Losses stay on the device inside the loop and are read back every `log_every` steps, which is where
divergence (a non-finite or exploding loss) is detected: the run then stops as `collapsed`, naming
the exact step, instead of crashing the sweep.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import ConfigError, Interrupted
from .capture import CapturedStep, StepRunner
from .checkpoint import Checkpoint, resume_training, training_state
from .devices import parallel_local_jobs, resolve_device
from .loss_window import LossWindow
from .precision import check_precision, effective_precision, in_precision, tf32_scope
from .step import StepContext, full_steps_per_epoch
from .stop import StopRequest

log = logging.getLogger("privgan_runner")


@dataclass
class TrainResult:
    status: str  # "completed" | "collapsed"
    steps: int
    epochs: int
    seconds: float
    device: str
    final: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    message: str = ""
    notes: list[str] = field(default_factory=list)
    precision: str = "fp32"  # what the step computed in (training.precision; tf32 is fp32 on a CPU)
    tf32: bool = False  # CUDA matmuls and convolutions ran in TF32
    cuda_graph: bool = False  # the step ran as a captured CUDA graph
    threads: int = 0  # CPU threads torch used

    def summary(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "epochs": self.epochs,
            "seconds": round(self.seconds, 2),
            "device": self.device,
            "final": self.final,
            "status": self.status,
            "message": self.message,
            "notes": self.notes,
            "precision": self.precision,
            "tf32": self.tf32,
            "cuda_graph": self.cuda_graph,
            "threads": self.threads,
        }


class Trainer:
    def __init__(
        self,
        epochs: int = 1000,
        batch_size: int = 64,
        n_critic: int = 1,
        lr: float = 2e-4,
        betas: tuple[float, float] | list[float] = (0.5, 0.999),
        device: str = "auto",
        log_every: int = 50,
        divergence_threshold: float = 1e6,
        progress: bool = True,
        cuda_graph: bool = False,
        channels_last: bool = False,
        warmup_steps: int = 3,
        checkpoint_every: int = 50,
        threads: int | None = None,
        precision: str = "tf32",
        keep_freed_memory: bool = True,
    ):
        if threads is not None and (
            not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= 4096
        ):
            raise ConfigError(
                "threads", f"must be null (cores / parallel local jobs) or an integer in [1, 4096], got {threads!r}"
            )
        for key, value in (
            ("epochs", epochs),
            ("batch_size", batch_size),
            ("n_critic", n_critic),
            ("log_every", log_every),
            ("warmup_steps", warmup_steps),
            ("checkpoint_every", checkpoint_every),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(key, f"must be a positive integer, got {value!r}")
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ConfigError("lr", f"must be > 0, got {lr!r}")
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ConfigError("betas", f"must be two numbers in [0, 1), got {list(betas)}")
        if not divergence_threshold > 0:
            raise ConfigError("divergence_threshold", f"must be > 0, got {divergence_threshold}")
        if not isinstance(keep_freed_memory, bool):
            raise ConfigError("keep_freed_memory", f"must be true or false, got {keep_freed_memory!r}")
        if not isinstance(device, str):
            raise ConfigError("device", f"must be auto, cpu, cuda or cuda:N, got {device!r}")
        if device != "auto":
            try:
                torch.device(device)
            except (RuntimeError, ValueError, TypeError):
                raise ConfigError("device", f"{device!r} is not a device (use auto, cpu, cuda or cuda:N)") from None
        self.epochs, self.batch_size, self.n_critic = epochs, batch_size, n_critic
        self.lr, self.betas = float(lr), tuple(float(b) for b in betas)
        self.device_name, self.log_every = device, log_every
        self.divergence_threshold = float(divergence_threshold)
        self.progress, self.cuda_graph, self.channels_last = progress, cuda_graph, channels_last
        self.warmup_steps = warmup_steps
        self.checkpoint_every = checkpoint_every
        self.threads = threads
        self.precision = check_precision(precision)
        self.keep_freed_memory = keep_freed_memory

    def job_threads(self) -> int:
        """CPU threads for this job: `threads`, else the cores shared by the local jobs running in parallel
        (torch's default, every core per process, ran 2-3 parallel jobs on 2 cores about 10x slower)."""
        return self.threads or max(1, (os.cpu_count() or 1) // parallel_local_jobs())

    def steps_per_epoch(self, n_members: int) -> int:
        return full_steps_per_epoch(n_members, self.batch_size, self.n_critic)

    def check_fits(self, n_members: int) -> None:
        if self.steps_per_epoch(n_members) == 0:
            raise ConfigError(
                "trainer.batch_size",
                f"batch_size {self.batch_size} x n_critic {self.n_critic} exceeds the {n_members} "
                "members: not one full step per epoch",
            )

    def step_context(
        self, device: torch.device, z_dim: int, conditional: bool, n_classes: int, members, steps: int
    ) -> StepContext:
        """What this trainer hands a mechanism's make_step."""
        return StepContext(
            device=device,
            batch_size=self.batch_size,
            n_critic=self.n_critic,
            steps=steps,
            z_dim=z_dim,
            conditional=conditional,
            n_classes=n_classes,
            members=members,
            make_optimizer=lambda params, capturable=True: self.adam(params, device, capturable),
        )

    def adam(self, params, device: torch.device, capturable: bool = True) -> torch.optim.Adam:
        """The trainer's optimizer: Adam (fused on CUDA; capturable when the step will be captured)."""
        kwargs = dict(lr=self.lr, betas=self.betas)
        if device.type == "cuda":
            kwargs["fused"] = True
            if self.cuda_graph and capturable:
                kwargs["capturable"] = True
        return torch.optim.Adam(params, **kwargs)

    def fit(
        self,
        G,
        D,
        objective,
        regularizer,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        z_dim: int,
        conditional: bool,
        privacy,
        codes: torch.Tensor | None = None,
        n_classes: int = 0,
        on_log: Callable[[dict[str, float], int], None] | None = None,
        checkpoint: Checkpoint | None = None,
        public: tuple[torch.Tensor, torch.Tensor] | None = None,
        stop: StopRequest | None = None,
        n_nominal: float | None = None,
    ) -> TrainResult:
        """Train G and D on the member set (images, labels[, membership codes]) as the privacy mechanism
        `privacy` says (privacy.none.NoPrivacy for plain training). `stop`: a request to stop (a signal's),
        honoured at the end of the epoch under way, after a checkpoint. `n_nominal`: the training set's size
        that the epochs' step count and a DP sample rate are computed from (default: its real size); an audit
        sets it before its canary coins are drawn."""
        device = resolve_device(self.device_name)
        precision = effective_precision(self.precision, device)
        with tf32_scope(precision == "tf32"):  # the process's own setting is back once training ends
            result = self._fit(
                G,
                D,
                objective,
                regularizer,
                images,
                labels,
                z_dim=z_dim,
                conditional=conditional,
                privacy=privacy,
                codes=codes,
                n_classes=n_classes,
                on_log=on_log,
                checkpoint=checkpoint,
                device=device,
                public=public,
                stop=stop or StopRequest(),
                n_nominal=n_nominal,
            )
        result.precision, result.tf32, result.threads = precision, precision == "tf32", torch.get_num_threads()
        return result

    def _fit(
        self,
        G,
        D,
        objective,
        regularizer,
        images,
        labels,
        *,
        z_dim,
        conditional,
        privacy,
        codes,
        n_classes,
        on_log,
        checkpoint,
        device,
        stop: StopRequest,
        public=None,
        n_nominal: float | None = None,
    ) -> TrainResult:
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        G.to(device, memory_format=fmt).train()
        D.to(device, memory_format=fmt).train()
        X = images.to(device).contiguous(memory_format=fmt)
        Y = labels.to(device)
        n = X.shape[0]
        C = (torch.zeros(n, dtype=torch.long) if codes is None else codes).to(device)
        nominal = int(n_nominal) if n_nominal is not None else n
        self.check_fits(nominal)
        per_epoch = privacy.steps_per_epoch(nominal, self.batch_size, self.n_critic)
        total = self.epochs * per_epoch
        ctx = self.step_context(device, z_dim, conditional, n_classes, (X, Y, C), total)
        ctx.n_nominal = float(n_nominal) if n_nominal is not None else None
        if public is not None:
            ctx.public = (public[0].to(device).contiguous(memory_format=fmt), public[1].to(device))
        eager = privacy.make_step(G, D, objective, regularizer, ctx)
        capture = self.cuda_graph and device.type == "cuda" and privacy.capturable
        notes = []
        if self.cuda_graph and device.type == "cuda" and not privacy.capturable:
            notes.append(f"trainer.cuda_graph ignored: the {privacy.name} step cannot be captured")
        run_step = StepRunner(
            in_precision(eager, self.precision, device),
            self.warmup_steps,
            CapturedStep if capture else None,
            torch.cuda.Stream() if capture else None,
        )

        history: list[dict[str, float]] = []
        done, start_epoch, earlier_seconds = 0, 0, 0.0
        if checkpoint is not None and checkpoint.exists():
            start_epoch, done, history, earlier_seconds = resume_training(checkpoint, G, D, eager, privacy)
            notes.append(f"resumed from {checkpoint} at epoch {start_epoch} (step {done})")
            if checkpoint.note:
                log.warning("unreadable checkpoint: %s", checkpoint.note)
                notes.append(f"unreadable checkpoint: {checkpoint.note}")
        window = LossWindow(self.log_every, eager.loss_names, device, self.divergence_threshold, history)
        started = time.perf_counter()
        bar = _progress(total, self.progress)
        bar.update(done)

        going = True
        stop.training = True
        try:
            for epoch in range(start_epoch, self.epochs):
                privacy.on_epoch(epoch)
                need = per_epoch * self.n_critic * self.batch_size  # more than n only when n_nominal is larger
                order = torch.cat([torch.randperm(n, device=device) for _ in range(-(-need // n))])[:need]
                order = order.view(per_epoch, self.n_critic, self.batch_size)
                for j in range(per_epoch):
                    idx = order[j]
                    window.add(run_step(X[idx], Y[idx], C[idx]))
                    done += 1
                    if (window.full or done == total) and not (
                        going := self._read_back(window, done, epoch, on_log, bar, privacy)
                    ):
                        break
                if not going:
                    break
                stopping = stop.signal_name is not None
                scheduled = (epoch + 1) % self.checkpoint_every == 0
                if checkpoint is not None and (scheduled or stopping) and epoch + 1 < self.epochs:
                    if window.pending and not (going := self._read_back(window, done, epoch, on_log, bar, privacy)):
                        break
                    seconds = earlier_seconds + time.perf_counter() - started
                    checkpoint.save(training_state(epoch + 1, done, history, seconds, G, D, eager, privacy))
                if stopping and epoch + 1 < self.epochs:
                    raise Interrupted(stop.signal_name)
        finally:
            stop.training = False
            bar.close()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = earlier_seconds + time.perf_counter() - started  # a resumed job counts its earlier runs too
        G.eval()
        D.eval()
        final = {k: history[-1][k] for k in eager.loss_names} if history else {}
        collapsed = window.collapse
        steps = done if collapsed is None else collapsed[0]  # a collapse ends the run at its step
        return TrainResult(
            status="completed" if collapsed is None else "collapsed",
            steps=steps,
            epochs=-(-steps // per_epoch),
            seconds=seconds,
            device=str(device),
            final=final,
            history=history,
            message="" if collapsed is None else collapsed[1],
            notes=notes,
            cuda_graph=run_step.captured,
        )

    def _read_back(self, window: LossWindow, done: int, epoch: int, on_log, bar, privacy) -> bool:
        """Read the window's losses back and report them; False when a step diverged (training stops)."""
        count = window.pending
        means = window.flush(done, epoch)
        if means is None:
            return False
        if on_log:
            on_log(means, done)
        bar.update(count)
        if self.progress:
            bar.set_postfix(d=f"{means['d_loss']:.3f}", g=f"{means['g_loss']:.3f}", **privacy.progress(), refresh=False)
        return True


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, unit="step", dynamic_ncols=True, leave=False)
