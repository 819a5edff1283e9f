"""A read-only view of a trained GAN and its split, shared by the attacks and the metrics.

D's outputs on the attacked records are computed once (in eval mode, in batches) and cached, so
attacks and metrics that read the same outputs do not recompute them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .data.base import ImagePool
from .data.split import Membership
from .objectives.base import Objective


@dataclass
class TrainedGAN:
    G: torch.nn.Module
    D: torch.nn.Module
    objective: Objective
    pool: ImagePool
    membership: Membership
    z_dim: int
    conditional: bool
    device: torch.device
    seed: int = 0
    batch_size: int = 512
    _outputs: dict = field(default_factory=dict, repr=False)

    @property
    def attacked_idx(self) -> np.ndarray:
        """Pool indices of the attacked records: members first, then non-members."""
        return np.concatenate([self.membership.member_idx, self.membership.nonmember_idx])

    @property
    def is_member(self) -> np.ndarray:
        m, n = len(self.membership.member_idx), len(self.membership.nonmember_idx)
        return np.concatenate([np.ones(m, bool), np.zeros(n, bool)])

    @torch.no_grad()
    def d_outputs(self, idx: np.ndarray) -> torch.Tensor:
        """D's raw outputs for pool records `idx` (float32, on the CPU)."""
        key = idx.tobytes()
        if key not in self._outputs:
            self.D.eval()
            chunks = []
            for start in range(0, len(idx), self.batch_size):
                sel = torch.as_tensor(idx[start: start + self.batch_size])
                x = self.pool.images[sel].to(self.device)
                y = self.pool.labels[sel].to(self.device) if self.conditional else None
                chunks.append(self.D(x, y).float().cpu())
            self._outputs[key] = torch.cat(chunks)
        return self._outputs[key]

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | None = None, seed: int | None = None) -> torch.Tensor:
        """n generated images (CPU, [-1, 1]); class labels drawn uniformly when the model is conditional."""
        self.G.eval()
        gen = torch.Generator().manual_seed(self.seed if seed is None else seed)
        if self.conditional and labels is None:
            labels = torch.randint(0, self.pool.n_classes, (n,), generator=gen)
        out = []
        for start in range(0, n, self.batch_size):
            b = min(self.batch_size, n - start)
            z = torch.randn(b, self.z_dim, generator=gen).to(self.device)
            y = labels[start: start + b].to(self.device) if self.conditional else None
            out.append(self.G(z, y).float().cpu())
        return torch.cat(out)
