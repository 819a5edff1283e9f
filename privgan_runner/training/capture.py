"""The step as a captured CUDA graph (CapturedStep), and StepRunner: eager for a warm-up, then captured. The
warm-up bookkeeping is plain Python, testable on a CPU (tests/test_training.py)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .step import AdversarialStep


class CapturedStep:
    """Replays a step captured once as a CUDA graph: the same work without per-kernel launch cost.

    Capture records the step without running it; run a few eager steps first (on a side stream) so
    lazily created state (optimizer moments, library handles) exists. Inputs are copied into static
    buffers before each replay; the returned tensor is the graph's static output.
    """

    def __init__(self, step: AdversarialStep, real: torch.Tensor, labels: torch.Tensor, codes: torch.Tensor):
        torch.cuda.synchronize()
        self.loss_names = step.loss_names
        self.inputs = (real.clone(), labels.clone(), codes.clone())
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = step(*self.inputs)

    def __call__(self, real: torch.Tensor, labels: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        for buffer, value in zip(self.inputs, (real, labels, codes)):
            buffer.copy_(value)
        self.graph.replay()
        return self.out


class StepRunner:
    """Runs the training step eagerly or, given `capture` (CapturedStep), as a CUDA graph captured after
    `warmup_steps` eager steps made in this process -- a resumed job warms up again, since its optimizer
    state and library handles are new here. Capture needs the warm-up on a side stream; that stream first
    waits for the default stream's work (the batch's indexing), and the default stream then waits for it."""

    def __init__(self, eager: Callable, warmup_steps: int, capture: Callable | None = None, side_stream=None):
        self.eager, self.step_fn = eager, eager
        self.warmup_steps, self.capture, self.side = warmup_steps, capture, side_stream
        self.eager_steps = 0  # in this process

    @property
    def captured(self) -> bool:
        return self.step_fn is not self.eager

    def __call__(self, real: torch.Tensor, labels: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        if self.capture is not None and not self.captured and self.eager_steps >= self.warmup_steps:
            self.step_fn = self.capture(self.eager, real, labels, codes)
        if self.captured:
            return self.step_fn(real, labels, codes)
        self.eager_steps += 1
        if self.side is None:
            return self.eager(real, labels, codes)
        current = torch.cuda.current_stream()
        self.side.wait_stream(current)
        with torch.cuda.stream(self.side):
            out = self.eager(real, labels, codes)
        current.wait_stream(self.side)
        out.record_stream(current)
        return out
