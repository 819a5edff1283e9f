"""Generalization gap (Wu et al. Table 1 "Gap"): the mean discriminator loss on non-members minus
that on members, each record's loss being its share of the objective's own D loss on real data
(JS: -log d(x); Wasserstein: -D(x)). A D that memorized its members has a large positive gap.
"""

from __future__ import annotations

import torch

from ..results import Figure
from .base import Metric


class GenGap(Metric):
    figures = (
        Figure("gen_gap", None, True, description="mean D loss on non-members minus on members (Wu)"),
        Figure("d_loss_members", None),
        Figure("d_loss_nonmembers", None),
    )

    def compute(self, trained) -> dict:
        losses = trained.objective.real_record_loss(trained.d_outputs(trained.attacked_idx))
        is_member = torch.as_tensor(trained.is_member)
        member, nonmember = losses[is_member].mean(), losses[~is_member].mean()
        return {
            "gen_gap": float(nonmember - member),
            "d_loss_members": float(member),
            "d_loss_nonmembers": float(nonmember),
        }
