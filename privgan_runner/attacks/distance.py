"""Full black-box distance attack (GAN-Leaks, Chen et al. 2020): score = minus the Euclidean distance,
in pixel space, from a record to its nearest of `n_generated` generated samples."""

from __future__ import annotations

import torch

from ..errors import ConfigError
from .base import Attack, AttackScores
from .distances import min_distance
from .figures import top_m_threshold


class Distance(Attack):
    label_free_scores = True  # a record's score reads the model only (an audit may use it)

    def __init__(self, n_generated: int = 10_000, chunk: int = 4096, bootstrap: int = 1000):
        super().__init__(bootstrap)
        if not isinstance(n_generated, int) or n_generated < 1:
            raise ConfigError("n_generated", f"must be a positive integer, got {n_generated!r}")
        self.n_generated, self.chunk = n_generated, chunk

    def scores(self, trained) -> AttackScores:
        idx, is_member = trained.attacked_idx, trained.is_member
        generated = trained.sample(self.n_generated).flatten(1).to(trained.device)
        records = trained.pool.images[torch.as_tensor(idx)].flatten(1).to(trained.device)
        scores = (-min_distance(records, generated, self.chunk)).double().cpu().numpy()
        return AttackScores(
            scores=scores,
            is_member=is_member,
            record_idx=idx,
            threshold=top_m_threshold(scores, int(is_member.sum())),
            extra={"n_generated": self.n_generated},
        )
