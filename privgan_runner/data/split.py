"""Split the pool, once and from `seed`, into members (the GAN's training set) and non-members."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, UnreadableFileError
from ..io import write_npz


@dataclass
class Membership:
    member_idx: np.ndarray
    nonmember_idx: np.ndarray
    extra: dict = field(default_factory=dict)  # further index sets drawn later (reference_idx, aux_idx)

    @property
    def training_idx(self) -> np.ndarray:
        """What the GAN trains on: the members and the audit's canaries drawn in (membership.npz canary_*)."""
        if "canary_idx" not in self.extra:
            return self.member_idx
        drawn_in = self.extra["canary_idx"][self.extra["canary_in"].astype(bool)]
        return np.sort(np.concatenate([self.member_idx, drawn_in]))

    def save(self, path: Path) -> Path:
        return write_npz(path, member_idx=self.member_idx, nonmember_idx=self.nonmember_idx, **self.extra)

    @classmethod
    def load(cls, path: Path) -> Membership:
        try:
            with np.load(path) as f:
                extra = {k: f[k] for k in f.files if k not in ("member_idx", "nonmember_idx")}
                return cls(member_idx=f["member_idx"], nonmember_idx=f["nonmember_idx"], extra=extra)
        except FileNotFoundError:
            raise
        except Exception as exc:  # truncated zip, a member missing, not an npz at all
            raise UnreadableFileError(
                "resume",
                f"the split {path} cannot be read ({type(exc).__name__}: {exc}); without it no figure of the trained "
                "model can be computed. Train the job again with resume=false.",
            ) from None


def split_pool(
    n_pool: int, member_fraction: float, max_samples: int | None, seed: int, pool_seed: int | None = None
) -> Membership:
    """Members and non-members among `max_samples` records of the pool. The records are drawn with the
    run's seed, or with `pool_seed` when given: then every seed splits the same records (the universe that
    shadow models and their target share, Carlini et al. 2022) and only the member draw changes."""
    rng = np.random.default_rng(seed)
    if pool_seed is None:
        order = rng.permutation(n_pool)
        if max_samples is not None:
            order = order[:max_samples]
    else:
        universe = np.random.default_rng(pool_seed).permutation(n_pool)[:max_samples]
        order = rng.permutation(np.sort(universe))
    n_members = int(round(member_fraction * len(order)))
    if n_members < 1 or n_members >= len(order):
        raise ConfigError(
            "dataset.member_fraction",
            f"{member_fraction} of {len(order)} records leaves {n_members} members and "
            f"{len(order) - n_members} non-members; both need at least one",
        )
    return Membership(member_idx=np.sort(order[:n_members]), nonmember_idx=np.sort(order[n_members:]))


def split_by_group(
    groups: np.ndarray,
    member_fraction: float,
    max_samples: int | None,
    seed: int,
    member_groups: np.ndarray | None = None,
) -> Membership:
    """Members and non-members with no group on both sides (IDC: a patient's patches stay together).

    With `member_groups` (a provider's partition) those groups' records are the members; otherwise whole
    groups are drawn in a seeded order until `member_fraction` of the records are members. `max_samples`
    then subsamples each side in proportion. The groups of each side are saved beside the indices.
    """
    rng = np.random.default_rng(seed)
    unique = np.unique(groups)
    if member_groups is None:
        order = rng.permutation(unique)
        counts = {g: c for g, c in zip(*np.unique(groups, return_counts=True))}
        target, total, chosen = member_fraction * len(groups), 0, []
        for g in order:
            if total >= target:
                break
            chosen.append(g)
            total += counts[g]
        member_groups = np.array(chosen)
    is_member = np.isin(groups, member_groups)
    members, nonmembers = np.flatnonzero(is_member), np.flatnonzero(~is_member)
    if max_samples is not None and max_samples < len(groups):
        keep = max_samples / len(groups)
        members = np.sort(rng.choice(members, max(1, int(round(keep * len(members)))), replace=False))
        nonmembers = np.sort(rng.choice(nonmembers, max(1, int(round(keep * len(nonmembers)))), replace=False))
    if len(members) == 0 or len(nonmembers) == 0:
        raise ConfigError(
            "dataset.member_fraction",
            f"the group split leaves {len(members)} members and {len(nonmembers)} non-members; both need at least one",
        )
    return Membership(
        member_idx=members,
        nonmember_idx=nonmembers,
        extra={"member_groups": np.unique(groups[members]), "nonmember_groups": np.unique(groups[nonmembers])},
    )
