"""Classification utility (PIGAN Sec. 4.2; DP-GAN-DPAC poster): a CNN trained on generated labeled samples
and tested on real non-members (`gen2real`), and the reverse, trained on real non-members and tested on
generated samples (`real2gen`). The CNN is the domain backbone's architecture (PIGAN appendix Table 6
style), trained with Adam 2e-4, beta1 0.5, batch 64 for `epochs` epochs (paper: 50).
Unconditional models generate no labels: both figures are null with the reason."""

from __future__ import annotations

import numpy as np
import torch

from ..classifier import accuracy, shuffled_batches, train_classifier
from ..errors import ConfigError
from ..results import Figure
from ..seeds import derive
from .backbone import DomainClassifier
from .base import Metric


def _fit_and_score(train_x, train_y, test_x, test_y, n_classes: int, epochs: int, device, seed: int) -> float:
    torch.manual_seed(seed)
    clf = DomainClassifier(train_x.shape[1], train_x.shape[-1], n_classes).to(device)
    batches = shuffled_batches(train_x, train_y, epochs, 64, device, torch.Generator().manual_seed(seed))
    train_classifier(clf, batches, torch.optim.Adam(clf.parameters(), lr=2e-4, betas=(0.5, 0.999)))
    return accuracy(clf, test_x, test_y, device)


class Classification(Metric):
    name = "classification"
    figures = (
        Figure("gen2real_accuracy", True, True, (0.0, 1.0), description="trained on generated, tested on real"),
        Figure("real2gen_accuracy", True, True, (0.0, 1.0), description="trained on real, tested on generated"),
        Figure(
            "gen2real_accuracy_chance",
            None,
            False,
            (0.0, 1.0),
            description="1 / classes: a classifier that learned nothing",
        ),
    )

    def __init__(self, n_samples: int = 10_000, epochs: int = 10):
        for key, value in (("n_samples", n_samples), ("epochs", epochs)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(key, f"must be a positive integer, got {value!r}")
        self.n_samples, self.epochs = n_samples, epochs

    def compute(self, trained) -> dict:
        if not trained.conditional:
            reason = "the model is not class-conditional: generated samples have no labels"
            return {
                "gen2real_accuracy": None,
                "gen2real_accuracy_reason": reason,
                "real2gen_accuracy": None,
                "real2gen_accuracy_reason": reason,
            }
        n_classes = trained.pool.n_classes
        gen = torch.Generator().manual_seed(derive(trained.seed, "classification"))
        labels = torch.randint(0, n_classes, (self.n_samples,), generator=gen)
        fake = trained.sample(self.n_samples, labels=labels, seed=derive(trained.seed, "classification"))
        real_idx = torch.as_tensor(np.sort(trained.membership.nonmember_idx))
        real_x, real_y = trained.pool.images[real_idx], trained.pool.labels[real_idx]
        args = (n_classes, self.epochs, trained.device, trained.seed)
        return {
            "gen2real_accuracy": _fit_and_score(fake, labels, real_x, real_y, *args),
            "real2gen_accuracy": _fit_and_score(real_x, real_y, fake, labels, *args),
            "gen2real_accuracy_chance": 1.0 / n_classes,  # labels drawn uniformly: what guessing scores
            "classification_n_generated": self.n_samples,
            "classification_n_real": int(len(real_idx)),
            "classification_epochs": self.epochs,
        }
