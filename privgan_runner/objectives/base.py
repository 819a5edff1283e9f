"""The objective kind. D returns one raw output per record ("logit"); the objective reads it."""

from __future__ import annotations

import torch


class Objective:
    name: str = ""
    #: the range of `score` (None: unbounded); the TVD attack bins over it
    score_range: tuple[float, float] | None = None

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Discriminator / critic loss on a batch of real and generated outputs (scalar)."""
        raise NotImplementedError

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """Generator loss on the discriminator's outputs for generated records (scalar)."""
        raise NotImplementedError

    def real_record_loss(self, real: torch.Tensor) -> torch.Tensor:
        """Each real record's share of the D loss (per record): the generalization gap compares its means."""
        raise NotImplementedError

    def score(self, out: torch.Tensor) -> torch.Tensor:
        """The white-box attack's score d(x) (Wu Sec. 4.1), in float64: higher = judged more real."""
        raise NotImplementedError

    def rank(self, out: torch.Tensor) -> torch.Tensor:
        """A float64 score in d(x)'s order that never saturates (attacks and audits rank on it: a saturated
        d(x) would tie the most memorized records). Default: d(x) itself."""
        return self.score(out)

    def rank_of_score(self, value: float) -> float:
        """The `rank` value of a d(x) value (a threshold set on d(x), moved onto the ranking scale)."""
        return value
