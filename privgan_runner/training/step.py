"""One training step: n_critic discriminator updates, then one generator update.

Written so the whole step can be captured as one CUDA graph: inputs have static shapes (full
batches only), noise is drawn inside the step from the default generator, regularizers act in
place, and nothing reads a value back to the host. The step returns its losses as one device
tensor; the loop reads them back every few steps.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..objectives.base import Objective
from ..regularizers.base import Regularizer

#: what a step returns, in this order
LOSS_NAMES = ("d_loss", "g_loss", "penalty")


class AdversarialStep:
    def __init__(self, G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                 objective: Objective, regularizer: Regularizer, z_dim: int, conditional: bool):
        self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d
        self.objective, self.regularizer = objective, regularizer
        self.z_dim, self.conditional = z_dim, conditional

    def _noise(self, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape[0], self.z_dim, device=like.device, dtype=like.dtype)

    def __call__(self, real: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """real: [n_critic, B, C, H, W]; labels: [n_critic, B]. Returns [d_loss, g_loss, penalty]."""
        G, D = self.G, self.D
        D.requires_grad_(True)
        for x, y in zip(real.unbind(0), labels.unbind(0)):
            y = y if self.conditional else None
            with torch.no_grad():
                fake = G(self._noise(x), y)
            d_loss = self.objective.d_loss(D(x, y), D(fake, y))
            penalty = self.regularizer.penalty(D, lambda inp, y=y: D(inp, y), x, fake)
            total = d_loss if penalty is None else d_loss + penalty
            self.opt_d.zero_grad(set_to_none=True)
            total.backward()
            self.opt_d.step()
            self.regularizer.after_d_step(D)

        # G step: D's parameters get no gradients (and so carry no per-sample state either)
        D.requires_grad_(False)
        y = labels[-1] if self.conditional else None
        g_loss = self.objective.g_loss(D(G(self._noise(real[-1]), y), y))
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        D.requires_grad_(True)
        penalty = torch.zeros_like(d_loss) if penalty is None else penalty
        return torch.stack([d_loss.detach(), g_loss.detach(), penalty.detach()])


class CapturedStep:
    """Replays a step captured once as a CUDA graph: the same work without per-kernel launch cost.

    Capture records the step without running it; run a few eager steps first (on a side stream) so
    lazily created state (optimizer moments, library handles) exists. Inputs are copied into static
    buffers before each replay; the returned tensor is the graph's static output.
    """

    def __init__(self, step: AdversarialStep, real: torch.Tensor, labels: torch.Tensor):
        torch.cuda.synchronize()
        self.real, self.labels = real.clone(), labels.clone()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = step(self.real, self.labels)

    def __call__(self, real: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.real.copy_(real)
        self.labels.copy_(labels)
        self.graph.replay()
        return self.out
