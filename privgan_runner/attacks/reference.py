"""The attacker's reference records: non-members it holds as a sample of the data distribution, then not
attacked. Monte-Carlo fits its PCA on them; DOMIAS estimates the data density from them; the calibrated
distance attack measures against them. All draw them from the same seeded order of the non-members
(stream `monte_carlo`), so one attack's reference set is a prefix of another's."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..seeds import derive


def reference_split(rng: np.random.Generator, nonmembers: np.ndarray, n_ref: int) -> tuple[np.ndarray, np.ndarray]:
    """(reference, attacked non-members): the first n_ref of a permutation of the non-members, and the rest."""
    shuffled = rng.permutation(nonmembers)
    return np.sort(shuffled[:n_ref]), np.sort(shuffled[n_ref:])


def reference_records(trained, fraction: float, at_least: int, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(reference, attacked non-members) for an attack other than Monte-Carlo: the same seeded order."""
    nonmembers = trained.membership.nonmember_idx
    n_ref = max(at_least, int(round(fraction * len(nonmembers))))
    if n_ref >= len(nonmembers):
        raise ConfigError(key, f"the reference set ({n_ref} records) would take every non-member")
    return reference_split(np.random.default_rng(derive(trained.seed, "monte_carlo")), nonmembers, n_ref)
