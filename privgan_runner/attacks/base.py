"""The attack kind: `scores(trained)` -> one score per attacked record, plus the attack's own threshold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..artifacts import TrainedGAN


@dataclass
class AttackScores:
    scores: np.ndarray  # float, higher = more likely a member
    is_member: np.ndarray  # bool, the truth
    record_idx: np.ndarray  # pool indices of the scored records
    threshold: float | None = None  # the attack's own decision threshold (score >= threshold -> member)
    extra: dict = field(default_factory=dict)  # attack-specific figures, merged into its results entry
    split: dict = field(default_factory=dict)  # index sets the attack drew (saved into membership.npz)


class Attack:
    name: str = ""
    #: the figures this attack adds to the shared ones (its AttackScores.extra), described
    figures: tuple = ()
    #: the shared figures that are this attack's headline figures (the report's and console's columns)
    headline_figures: tuple[str, ...] = ("auc", "auc_ci", "tpr_at_1pct_fpr")
    #: a record's score depends on the model and the record only, never on who the members are (the
    #: Monte-Carlo attack's reference set and LOGAN's knowledge do): the audit's canary signal must be so
    label_free_scores: bool = False
    #: its scores read the discriminator (white-box): meaningless against a mechanism that never releases D
    reads_discriminator: bool = False

    @classmethod
    def describe_figures(cls) -> tuple:
        """Every figure this attack reports: the shared ones (headline as this attack says), then its own."""
        from dataclasses import replace

        from .figures import SHARED_FIGURES

        shared = tuple(replace(f, headline=f.name in cls.headline_figures) for f in SHARED_FIGURES)
        return shared + tuple(cls.figures)

    def __init__(self, bootstrap: int = 1000):
        if not isinstance(bootstrap, int) or bootstrap < 0:
            from ..errors import ConfigError

            raise ConfigError("bootstrap", f"must be an integer >= 0 (resamples for auc_ci), got {bootstrap!r}")
        self.bootstrap = bootstrap

    def check_run(self, identity: dict, seed: int, membership=None) -> None:
        """Refuse, before training, what this attack will not be able to do for this run (ConfigError);
        `membership`: the run's split (data.split.Membership), where the check needs it."""

    def scores(self, trained: TrainedGAN) -> AttackScores:
        """One score per attacked record (higher = more likely a member), the truth, and the attack's own
        threshold and figures."""
        raise NotImplementedError
