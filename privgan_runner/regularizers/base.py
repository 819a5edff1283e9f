"""The regularizer kind: three hooks, each a no-op unless a variant needs it."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

Critic = Callable[[torch.Tensor], torch.Tensor]  # D with the batch's conditioning bound: x -> outputs


class Regularizer:
    name: str = ""
    #: the penalty differentiates D's output w.r.t. its input (double backward)
    needs_double_backward: bool = False
    #: `wrap` replaces D's weights by a function of new parameters and buffers (torch parametrizations)
    reparametrizes_weights: bool = False

    @property
    def has_penalty(self) -> bool:
        """Whether this variant adds a term to D's loss (it overrides `penalty`)."""
        return type(self).penalty is not Regularizer.penalty

    def wrap(self, D: nn.Module) -> nn.Module:
        """Change D once, before training (e.g. reparametrize its weights)."""
        return D

    def penalty(self, D: nn.Module, critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
        """A term added to the D loss at every D step, or None."""
        return None

    @torch.no_grad()
    def after_d_step(self, D: nn.Module) -> None:
        """Act on D's parameters after each optimizer step (in place: the step stays capturable)."""


def replace_batchnorm(D: nn.Module, make: Callable[[int], nn.Module]) -> int:
    """Swap every BatchNorm2d in D for make(channels), in place; returns how many were swapped."""
    swapped = 0
    for parent in list(D.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(parent, child_name, make(child.num_features))
                swapped += 1
    return swapped
