"""Full black-box distance attack (GAN-Leaks, Chen et al. 2020): score = minus the Euclidean distance,
in pixel space, from a record to its nearest of `n_generated` generated samples.

`calibrated: true` is GAN-Leaks' calibration (Sec. 5.3), which subtracts what a record's distance would be
without it in the training set: L_cal(x) = L(x, G) - L(x, R), here with R the attacker's reference records
(a `reference_fraction` of the non-members, not attacked; saved as `distance_reference_idx`) standing in
for the paper's reference generator; a record near the data manifold anyway is no longer called a member
for being near G's samples."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError
from .base import Attack, AttackScores
from .distances import min_distance
from .figures import top_m_threshold
from .reference import reference_records


class Distance(Attack):
    label_free_scores = True  # a record's score reads the model only (an audit may use it); not calibrated

    def __init__(
        self,
        n_generated: int = 10_000,
        chunk: int = 4096,
        bootstrap: int = 1000,
        calibrated: bool = False,
        reference_fraction: float = 0.1,
    ):
        super().__init__(bootstrap)
        if not isinstance(n_generated, int) or n_generated < 1:
            raise ConfigError("n_generated", f"must be a positive integer, got {n_generated!r}")
        if not 0 < reference_fraction < 1:
            raise ConfigError("reference_fraction", f"must be in (0, 1), got {reference_fraction!r}")
        self.n_generated, self.chunk = n_generated, chunk
        self.calibrated, self.reference_fraction = bool(calibrated), reference_fraction
        self.label_free_scores = not self.calibrated  # its reference records are drawn from the non-members

    def calibration_note(self, split: dict) -> dict:
        """The two nearest-neighbour distances of the calibration come from sets of different sizes (G's
        n_generated samples, the reference records): the nearer of more points is nearer, so the calibrated
        score leans towards "member" for every record alike -- it moves the threshold, not the ranking by much."""
        if not self.calibrated:
            return {}
        n_reference = len(split["distance_reference_idx"])
        return {
            "n_reference": n_reference,
            "calibration_note": f"distance to the nearest of {self.n_generated} samples minus that to the nearest of "
            f"{n_reference} reference records: sets of different sizes (GAN-Leaks' reference generator would give "
            "as many)",
        }

    def scores(self, trained) -> AttackScores:
        idx, is_member, split = trained.attacked_idx, trained.is_member, {}
        if self.calibrated:
            reference, attacked_non = reference_records(
                trained, self.reference_fraction, 1, "attack.distance.reference_fraction"
            )
            members = trained.membership.member_idx
            idx = np.concatenate([members, attacked_non])
            is_member = np.r_[np.ones(len(members), bool), np.zeros(len(attacked_non), bool)]
            split = {"distance_reference_idx": reference}
        flat = lambda i: trained.pool.images[torch.as_tensor(i)].flatten(1).to(trained.device)  # noqa: E731
        generated = trained.sample(self.n_generated).flatten(1).to(trained.device)
        records = flat(idx)
        distance = min_distance(records, generated, self.chunk)
        if self.calibrated:
            distance = distance - min_distance(records, flat(split["distance_reference_idx"]), self.chunk)
        scores = (-distance).cpu().numpy()
        return AttackScores(
            scores=scores,
            is_member=is_member,
            record_idx=idx,
            threshold=top_m_threshold(scores, int(is_member.sum())),
            extra={"n_generated": self.n_generated, "calibrated": self.calibrated, **self.calibration_note(split)},
            split=split,
        )
