"""Split the pool, once and from `seed`, into members (the GAN's training set) and non-members."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io import write_npz


@dataclass
class Membership:
    member_idx: np.ndarray
    nonmember_idx: np.ndarray
    extra: dict = field(default_factory=dict)  # further index sets drawn later (reference_idx, aux_idx)

    def save(self, path: Path) -> Path:
        return write_npz(path, member_idx=self.member_idx, nonmember_idx=self.nonmember_idx, **self.extra)

    @classmethod
    def load(cls, path: Path) -> "Membership":
        with np.load(path) as f:
            extra = {k: f[k] for k in f.files if k not in ("member_idx", "nonmember_idx")}
            return cls(member_idx=f["member_idx"], nonmember_idx=f["nonmember_idx"], extra=extra)


def split_pool(n_pool: int, member_fraction: float, max_samples: int | None, seed: int) -> Membership:
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_pool)
    if max_samples is not None:
        order = order[:max_samples]
    n_members = int(round(member_fraction * len(order)))
    if n_members < 1 or n_members >= len(order):
        raise ConfigError("dataset.member_fraction",
                          f"{member_fraction} of {len(order)} records leaves {n_members} members and "
                          f"{len(order) - n_members} non-members; both need at least one")
    return Membership(member_idx=np.sort(order[:n_members]), nonmember_idx=np.sort(order[n_members:]))
