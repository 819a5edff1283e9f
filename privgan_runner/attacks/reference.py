"""The attacker's reference records: non-members it holds as a sample of the data distribution, then not
attacked. Monte-Carlo fits its PCA on them; DOMIAS estimates the data density from them; the calibrated
distance attack measures against them. All draw them from the same seeded order of the non-members
(stream `monte_carlo`), so one attack's reference set is a prefix of another's."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..seeds import derive


def reference_split(
    rng: np.random.Generator, nonmembers: np.ndarray, fraction: float, at_least: int, key: str
) -> tuple[np.ndarray, np.ndarray]:
    """(reference, attacked non-members): the first max(at_least, fraction of them) of a permutation of the
    non-members, and the rest; refused (naming `key`) when the reference set would take them all."""
    n_ref = max(at_least, int(round(fraction * len(nonmembers))))
    if n_ref >= len(nonmembers):
        raise ConfigError(key, f"the reference set ({n_ref} records) would take every non-member")
    shuffled = rng.permutation(nonmembers)
    return np.sort(shuffled[:n_ref]), np.sort(shuffled[n_ref:])


def reference_records(trained, fraction: float, at_least: int, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(reference, attacked non-members) for an attack other than Monte-Carlo: the same seeded order."""
    rng = np.random.default_rng(derive(trained.seed, "monte_carlo"))
    return reference_split(rng, trained.membership.nonmember_idx, fraction, at_least, key)
