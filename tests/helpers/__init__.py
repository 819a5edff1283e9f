"""Helpers shared by the tests: a step context without a trainer loop, W&B transaction-log readers."""

from __future__ import annotations

import torch

from privgan_runner.training.step import StepContext
from privgan_runner.training.trainer import Trainer


def step_context(
    members,
    *,
    batch_size: int = 8,
    z_dim: int = 8,
    conditional: bool = False,
    n_classes: int = 10,
    steps: int = 10,
    n_critic: int = 1,
) -> StepContext:
    """What the trainer hands a mechanism's make_step, for a CPU trainer of this batch size."""
    trainer = Trainer(batch_size=batch_size, n_critic=n_critic, device="cpu", progress=False)
    return trainer.step_context(torch.device("cpu"), z_dim, conditional, n_classes, members, steps)
