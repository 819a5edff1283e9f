"""Canaries: the records an audit plants, each trained on with probability 1/2 (Steinke et al. 2023, Sec. 2).

A kind decides what the m canaries are and which pool records they keep out of the member/non-member
split, so the attacks' own figures never score a canary:

- `natural`: m pool records, set aside before the split (the realistic case);
- `ood`: m fixed noise images appended to the pool, far from every real record (easiest to detect,
  hence the tightest bounds);
- `mislabeled`: m pool records appended again with another class (conditional models), their
  originals set aside.

Which records are canaries comes from `audit.canary_seed` (the same canaries for every run of a sweep,
so several runs can audit one canary); which canaries are trained on comes from the run's seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..data.base import ImagePool
from ..errors import ConfigError


@dataclass
class CanarySet:
    pool: ImagePool  # the pool with appended canaries, if any
    canary_idx: np.ndarray  # pool indices of the m canaries
    excluded_idx: np.ndarray  # pool indices kept out of the member/non-member split (canaries, originals)


def _append(pool: ImagePool, images: torch.Tensor, labels: torch.Tensor) -> tuple[ImagePool, np.ndarray]:
    groups = pool.groups
    if groups is not None:  # each appended canary is a group of its own
        groups = np.concatenate([groups, np.array([f"canary-{i}" for i in range(len(images))], dtype=object)])
    grown = replace(
        pool,
        images=torch.cat([pool.images, images]),
        labels=torch.cat([pool.labels, labels]),
        groups=groups,
        _digest=None,
    )
    return grown, np.arange(len(pool), len(pool) + len(images))


def _drawn(pool: ImagePool, m: int, rng: np.random.Generator) -> np.ndarray:
    if m > len(pool) - 2:
        raise ConfigError("audit.n_canaries", f"{m} canaries do not fit a pool of {len(pool)} records")
    return np.sort(rng.choice(len(pool), m, replace=False))


def natural(pool: ImagePool, m: int, rng: np.random.Generator, conditional: bool) -> CanarySet:
    idx = _drawn(pool, m, rng)
    return CanarySet(pool, idx, idx)


def ood(pool: ImagePool, m: int, rng: np.random.Generator, conditional: bool) -> CanarySet:
    shape = (m, *pool.images.shape[1:])
    images = torch.from_numpy(rng.uniform(-1.0, 1.0, size=shape).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, max(pool.n_classes, 1), size=m)).long()
    grown, idx = _append(pool, images, labels)
    return CanarySet(grown, idx, idx)


def mislabeled(pool: ImagePool, m: int, rng: np.random.Generator, conditional: bool) -> CanarySet:
    if not conditional or pool.n_classes < 2:
        raise ConfigError("audit.canaries", "mislabeled canaries need a conditional model (model.conditional=true)")
    originals = _drawn(pool, m, rng)
    shift = torch.from_numpy(rng.integers(1, pool.n_classes, size=m)).long()
    labels = (pool.labels[torch.from_numpy(originals)] + shift) % pool.n_classes
    grown, idx = _append(pool, pool.images[torch.from_numpy(originals)].clone(), labels)
    return CanarySet(grown, idx, np.concatenate([originals, idx]))


KINDS = {"natural": natural, "ood": ood, "mislabeled": mislabeled}


def plant(pool: ImagePool, kind: str, m: int, canary_seed: int, conditional: bool) -> CanarySet:
    """The canaries of `kind` for this pool (the same for every run with this canary_seed)."""
    return KINDS[kind](pool, m, np.random.default_rng(canary_seed), conditional)


def inclusion(m: int, seed: int) -> np.ndarray:
    """Which of the m canaries this run trains on: each independently with probability 1/2."""
    return np.random.default_rng(seed).random(m) < 0.5


def guesses(scores: np.ndarray, k_pos: int, k_neg: int) -> np.ndarray:
    """+1 ("in") for the k_pos highest scores, -1 ("out") for the k_neg lowest, 0 (abstain) otherwise.

    A score tied across the boundary is abstained on (fewer guesses, never an order-dependent one): a
    record is guessed "in" only when at most k_pos scores are >= its own, "out" only when at most k_neg are
    <= its own."""
    s = np.asarray(scores, dtype=float)
    order = np.sort(s)
    at_least = len(s) - np.searchsorted(order, s, side="left")  # how many scores are >= each
    at_most = np.searchsorted(order, s, side="right")  # how many are <= each
    return np.where(at_least <= k_pos, 1, 0) + np.where(at_most <= k_neg, -1, 0)


def guess_grid(m: int) -> list[tuple[int, int]]:
    """The (k_pos, k_neg) pairs a white-box audit tries, fixed before any score is seen: r = 10, 20, 50, ...
    guesses, split evenly between "in" and "out" or all "in"."""
    out = []
    for r in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000):
        if r > m:
            break
        out += [(r // 2, r - r // 2), (r, 0)]
    return out or [(m, 0)]


def guess_counts(scores: np.ndarray, inside: np.ndarray, grid) -> list[tuple[int, int]]:
    """(guesses made, guesses right) for each (k_pos, k_neg) of `grid`, against the coins `inside`."""
    truth = np.where(inside, 1, -1)
    out = []
    for k_pos, k_neg in grid:
        g = guesses(scores, k_pos, k_neg)
        out.append((int((g != 0).sum()), int((g == truth).sum())))
    return out
