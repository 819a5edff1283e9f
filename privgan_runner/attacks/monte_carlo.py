"""Monte-Carlo attack (Hilprecht et al. 2019, as run in the PIGAN and privGAN papers).

The attacker has n generated samples. A PCA with `pca_components` (40) components is fitted on a
reference set: a random `reference_fraction` (10%) of the non-members, which is then not attacked
(its indices are saved as `reference_idx` in membership.npz). Records and samples are compared by
Euclidean distance in that space. For a set of attacked records,
eps = the median over them of the distance to the nearest generated sample, and a record's score
is the share of generated samples within eps of it.

- Per-record scores (saved, and behind AUC etc.) use every attacked record, eps taken over all of them.
- MC-Single / MC-Set follow the papers: `repetitions` (20) times, draw M members and M non-members
  (`m`, 100), compute eps and the scores on those 2M, call the top M members.
  MC-Single accuracy = share of correct labels (= members among the top M / M); MC-Set success = 1
  when most of the top M are members, 1/2 on a tie, 0 otherwise (chance 0.5).
  Shares are heavily tied (many records have none within eps): records tied at the M-th score are drawn
  at random, and both figures are their exact expectations over that draw (hypergeometric), so the order
  in which records are listed never counts a tie for the members.
- The per-record scores' threshold (the M-th score) is often 0 and then calls every record a member: F1
  and balanced accuracy are then not reported (see figures.py).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError
from ..results import Figure
from ..seeds import derive
from .base import Attack, AttackScores
from .distances import min_distance, share_within
from .figures import expected_top_hits, top_m_threshold
from .reference import reference_split


class MonteCarlo(Attack):
    headline_figures = ("auc",)
    figures = (
        Figure("mc_single_accuracy", True, True, (0.0, 1.0), description="MC-Single accuracy (chance 0.5)"),
        Figure("mc_set_accuracy", True, True, (0.0, 1.0), description="MC-Set success rate (chance 0.5)"),
        Figure(
            "mc_set_accuracy_at_least_half",
            True,
            False,
            (0.0, 1.0),
            description="MC-Set as privGAN's code counts it (>= m/2 right is a success; chance "
            "mc_set_chance_at_least_half, 0.556 at m = 100): compare privGAN's published figures with this one",
        ),
        Figure("mc_set_chance_at_least_half", None, False, (0.0, 1.0)),
        Figure("mc_chance", None, False, (0.0, 1.0)),
        Figure("eps", None, False, description="median nearest-sample distance in the PCA space"),
    )

    def __init__(
        self,
        n_generated: int = 100_000,
        pca_components: int = 40,
        reference_fraction: float = 0.1,
        m: int = 100,
        repetitions: int = 20,
        chunk: int = 4096,
        bootstrap: int = 1000,
    ):
        super().__init__(bootstrap)
        for key, value in (
            ("n_generated", n_generated),
            ("pca_components", pca_components),
            ("m", m),
            ("repetitions", repetitions),
            ("chunk", chunk),
        ):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(key, f"must be a positive integer, got {value!r}")
        if not 0 < reference_fraction < 1:
            raise ConfigError("reference_fraction", f"must be in (0, 1), got {reference_fraction!r}")
        self.n_generated, self.pca_components, self.reference_fraction = n_generated, pca_components, reference_fraction
        self.m, self.repetitions, self.chunk = m, repetitions, chunk

    def scores(self, trained) -> AttackScores:
        from sklearn.decomposition import PCA

        rng = np.random.default_rng(derive(trained.seed, "monte_carlo"))
        members, nonmembers = trained.membership.member_idx, trained.membership.nonmember_idx
        reference, attacked_non = reference_split(
            rng, nonmembers, self.reference_fraction, self.pca_components, "attack.monte_carlo.reference_fraction"
        )
        flat = lambda idx: trained.pool.images[torch.as_tensor(idx)].flatten(1).numpy()  # noqa: E731
        pca = PCA(n_components=self.pca_components, random_state=0).fit(flat(reference))
        device = trained.device
        project = lambda x: torch.as_tensor(pca.transform(x), dtype=torch.float32, device=device)  # noqa: E731
        generated = project(trained.sample(self.n_generated).flatten(1).numpy())

        idx = np.concatenate([members, attacked_non])
        is_member = np.r_[np.ones(len(members), bool), np.zeros(len(attacked_non), bool)]
        records = project(flat(idx))
        nearest = min_distance(records, generated, self.chunk)
        eps = nearest.quantile(0.5)  # the mean of the middle two for an even count, as numpy.median
        scores = share_within(records, generated, eps, self.chunk).double().cpu().numpy()

        single, sets, sets_at_least_half = self._repetitions(rng, records, nearest, generated, is_member)
        return AttackScores(
            scores=scores,
            is_member=is_member,
            record_idx=idx,
            threshold=top_m_threshold(scores, int(is_member.sum())),
            split={"reference_idx": reference},
            extra={
                "mc_single_accuracy": single,
                "mc_set_accuracy": sets,
                "mc_chance": 0.5,
                "mc_set_accuracy_at_least_half": sets_at_least_half,
                "mc_set_chance_at_least_half": at_least_half_chance(min(self.m, len(members), len(attacked_non))),
                "eps": float(eps),
                "n_generated": self.n_generated,
                "pca_components": self.pca_components,
                "m": self.m,
                "repetitions": self.repetitions,
                "n_reference": len(reference),
            },
        )

    def _repetitions(self, rng, records, nearest, generated, is_member):
        member_rows, non_rows = np.flatnonzero(is_member), np.flatnonzero(~is_member)
        m = min(self.m, len(member_rows), len(non_rows))
        single, sets, at_least_half = [], [], []
        for _ in range(self.repetitions):
            rows = np.r_[rng.choice(member_rows, m, replace=False), rng.choice(non_rows, m, replace=False)]
            eps = nearest[torch.as_tensor(rows)].quantile(0.5)
            s = share_within(records[torch.as_tensor(rows)], generated, eps, self.chunk).cpu().numpy()
            row_is_member = np.r_[np.ones(m, bool), np.zeros(m, bool)]
            single_accuracy, set_success, set_half = top_m_expectations(row_is_member, s, m)
            single.append(single_accuracy)
            sets.append(set_success)
            at_least_half.append(set_half)
        return float(np.mean(single)), float(np.mean(sets)), float(np.mean(at_least_half))


def at_least_half_chance(m: int) -> float:
    """P[>= m/2 members among m records drawn from m members and m non-members]: privGAN's MC-Set chance."""
    from scipy.stats import hypergeom

    return float(hypergeom.sf(-(-m // 2) - 1, 2 * m, m, m))


def top_m_expectations(is_member: np.ndarray, scores: np.ndarray, m: int) -> tuple[float, float, float]:
    """(MC-Single accuracy, MC-Set success, MC-Set success as privGAN's code counts it) of calling the top m
    members, expected over random tie-breaking: the members among the tied records that get a place follow a
    hypergeometric law. MC-Set: more than half right is a success and exactly half is half a success (chance
    0.5); privGAN's code counts `>= 0.5 * M` as a success (chance 0.556 at M = 100)."""
    from scipy.stats import hypergeom

    hits, places, tied_members, tied = expected_top_hits(is_member, scores, m)
    drawn = np.arange(places + 1)
    p = hypergeom.pmf(drawn, tied, tied_members, places)
    total = hits + drawn
    single = float((p * total).sum()) / m
    majority = float(p[2 * total > m].sum() + 0.5 * p[2 * total == m].sum())
    return single, majority, float(p[2 * total >= m].sum())
