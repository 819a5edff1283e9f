"""LOGAN black-box attack with auxiliary knowledge (Hayes et al. 2019; Wu et al. 2019 Table 2).

What is implemented, exactly:
1. The attacker knows `aux_fraction` (paper: 0.3) of the members and of the non-members, drawn from the
   run's seed and saved as `aux_member_idx` / `aux_nonmember_idx` in membership.npz.
2. It has no access to D or G's weights, only to `n_generated` samples of G.
3. It trains its own discriminator D_a (a small CNN, the domain backbone's architecture with one
   output; fresh weights) for `epochs` epochs with Adam 2e-4 / beta1 0.5 to output "like the target's
   training data": positives are the generated samples and the known members, negatives the known
   non-members, the two sides weighted equally. The generated samples play the part of the training
   data, as in Hayes et al.'s black-box attack (a GAN that overfits generates near its members); the
   known records tie D_a to the target's own member / non-member boundary, which is the auxiliary
   knowledge Wu et al. give the attacker to imitate the target discriminator.
4. D_a's logit is the score; the threshold is D_a's mean score over the known members (the attacker
   knows it, mirroring the white-box attack's assumption). Figures are computed only on the records
   the attacker did not know.
"""

from __future__ import annotations

import numpy as np
import torch

from ..classifier import balanced_batches, binary_logit_loss, train_classifier
from ..errors import ConfigError
from ..seeds import derive
from .base import Attack, AttackScores


class Logan(Attack):
    headline_figures = Attack.headline_figures + ("f1",)  # Wu et al. Table 2 reports AUC and F1

    def __init__(self, aux_fraction: float = 0.3, n_generated: int = 10_000, epochs: int = 20, bootstrap: int = 1000):
        super().__init__(bootstrap)
        if not 0 < aux_fraction < 1:
            raise ConfigError("aux_fraction", f"must be in (0, 1), got {aux_fraction!r}")
        for key, value in (("n_generated", n_generated), ("epochs", epochs)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(key, f"must be a positive integer, got {value!r}")
        self.aux_fraction, self.n_generated, self.epochs = aux_fraction, n_generated, epochs

    def scores(self, trained) -> AttackScores:
        from ..metrics.backbone import DomainClassifier

        rng = np.random.default_rng(derive(trained.seed, "logan_knowledge"))
        members, nonmembers = trained.membership.member_idx, trained.membership.nonmember_idx
        aux_m = np.sort(rng.choice(members, max(1, int(round(self.aux_fraction * len(members)))), replace=False))
        aux_n = np.sort(rng.choice(nonmembers, max(1, int(round(self.aux_fraction * len(nonmembers)))), replace=False))
        test_m, test_n = np.setdiff1d(members, aux_m), np.setdiff1d(nonmembers, aux_n)
        if len(test_m) == 0 or len(test_n) == 0:
            raise ConfigError("attack.logan.aux_fraction", "leaves no unknown members or non-members to attack")

        images = trained.pool.images
        positives = torch.cat(
            [
                trained.sample(self.n_generated, seed=derive(trained.seed, "logan_samples")),
                images[torch.as_tensor(aux_m)],
            ]
        )
        negatives = images[torch.as_tensor(aux_n)]
        device = trained.device
        torch.manual_seed(derive(trained.seed, "logan_training"))
        d_a = DomainClassifier(images.shape[1], images.shape[-1], 1).to(device)
        steps = max(1, len(positives) // 32) * self.epochs
        batches = balanced_batches(
            positives,
            negatives,
            steps,
            32,
            device,
            torch.Generator().manual_seed(derive(trained.seed, "logan_training")),
        )
        train_classifier(
            d_a, batches, torch.optim.Adam(d_a.parameters(), lr=2e-4, betas=(0.5, 0.999)), binary_logit_loss
        )

        @torch.no_grad()
        def score(idx):
            return (
                torch.cat(
                    [
                        d_a(images[torch.as_tensor(idx[i : i + 512])].to(device)).squeeze(1).cpu()
                        for i in range(0, len(idx), 512)
                    ]
                )
                .double()
                .numpy()
            )

        idx = np.concatenate([test_m, test_n])
        is_member = np.r_[np.ones(len(test_m), bool), np.zeros(len(test_n), bool)]
        return AttackScores(
            scores=score(idx),
            is_member=is_member,
            record_idx=idx,
            threshold=float(score(aux_m).mean()),
            split={"aux_member_idx": aux_m, "aux_nonmember_idx": aux_n},
            extra={
                "aux_fraction": self.aux_fraction,
                "n_aux_members": int(len(aux_m)),
                "n_aux_nonmembers": int(len(aux_n)),
                "n_generated": self.n_generated,
            },
        )
