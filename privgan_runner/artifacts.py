"""A read-only view of a trained GAN and its split, shared by the attacks and the metrics.

D's outputs on the attacked records are computed once (in eval mode, in batches) and cached, so
attacks and metrics that read the same outputs do not recompute them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .data.base import ImagePool
from .data.split import Membership
from .objectives.base import Objective
from .seeds import derive

if TYPE_CHECKING:
    from .privacy.base import PrivacyMechanism


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
    privacy: PrivacyMechanism  # how D is read: one view per membership code / discriminator
    seed: int = 0
    pool_name: str = "dataset"  # the dataset's name (keys the cached metric backbones)
    batch_size: int = 512
    #: the run's training configuration as flat keys, without the seed (what a shadow model must share)
    identity: dict = field(default_factory=dict, repr=False)
    #: loads another run folder's trained GAN on this pool (a shadow model); set by the pipeline
    load_run: Callable[[Path], TrainedGAN] | None = field(default=None, repr=False)
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
    def d_views(self, idx: np.ndarray) -> torch.Tensor:
        """D's raw outputs for pool records `idx`, one column per view (membership code c for PIGAN,
        discriminator for PrivGAN, one column otherwise): float32 [len(idx), views] on the CPU."""
        key = idx.tobytes()
        if key not in self._outputs:
            self.D.eval()
            chunks = []
            for start in range(0, len(idx), self.batch_size):
                sel = torch.as_tensor(idx[start : start + self.batch_size])
                x = self.pool.images[sel].to(self.device)
                y = self.pool.labels[sel].to(self.device) if self.conditional else None
                chunks.append(self.privacy.d_views(self.D, x, y).float().cpu())
            self._outputs[key] = torch.cat(chunks)
        return self._outputs[key]

    def d_outputs(self, idx: np.ndarray) -> torch.Tensor:
        """The attacker's D output per record: the max over views (PIGAN: max over c; PrivGAN: over D's)."""
        return self.d_views(idx).max(1).values

    def sample(self, n: int, labels: torch.Tensor | None = None, seed: int | None = None) -> torch.Tensor:
        """n generated images (CPU, [-1, 1]); class labels drawn uniformly when the model is conditional."""
        return sample_generator(
            self.G,
            n,
            z_dim=self.z_dim,
            conditional=self.conditional,
            n_classes=self.pool.n_classes,
            privacy=self.privacy,
            device=self.device,
            seed=derive(self.seed, "samples") if seed is None else seed,
            labels=labels,
            batch_size=self.batch_size,
        )


@torch.no_grad()
def sample_generator(
    G,
    n: int,
    *,
    z_dim: int,
    conditional: bool,
    n_classes: int,
    privacy,
    device,
    seed: int,
    labels: torch.Tensor | None = None,
    batch_size: int = 512,
) -> torch.Tensor:
    """n images from G (CPU, [-1, 1]) from a seeded generator: labels uniform over the classes when
    conditional and not given, membership codes as the mechanism samples them."""
    G.eval()
    gen = torch.Generator().manual_seed(seed)
    if conditional and labels is None:
        labels = torch.randint(0, n_classes, (n,), generator=gen)
    codes = privacy.generator_codes(n, gen)
    out = []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        z = torch.randn(b, z_dim, generator=gen).to(device)
        y = labels[start : start + b].to(device) if conditional else None
        c = codes[start : start + b].to(device) if codes is not None else None
        out.append(G(z, y, c).float().cpu())
    return torch.cat(out)
