"""DOMIAS (van Breugel, Sun, Qian & van der Schaar 2023, "Membership inference attacks against synthetic data
through overfitting detection", Sec. 3): a record is scored by how much more likely the generator makes it
than the data distribution does, score(x) = log p_G(φ(x)) - log p_R(φ(x)), "the density ratio of the
synthetic data and the reference data". p_G is a Gaussian KDE (Scott's bandwidth, as the paper's KDE
variant) of `n_generated` samples, p_R one of the attacker's reference records (a `reference_fraction` of
the non-members, not attacked; saved as `domias_reference_idx`), both in φ: a PCA with `pca_components`
fitted on the reference records (the Monte-Carlo attack's feature space).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError
from .base import Attack, AttackScores
from .figures import top_m_threshold
from .reference import reference_records


class Domias(Attack):
    def __init__(
        self, n_generated: int = 10_000, pca_components: int = 5, reference_fraction: float = 0.5, bootstrap: int = 1000
    ):
        super().__init__(bootstrap)
        for key, value in (("n_generated", n_generated), ("pca_components", pca_components)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(key, f"must be a positive integer, got {value!r}")
        if not 0 < reference_fraction < 1:
            raise ConfigError("reference_fraction", f"must be in (0, 1), got {reference_fraction!r}")
        self.n_generated, self.pca_components, self.reference_fraction = n_generated, pca_components, reference_fraction

    def scores(self, trained) -> AttackScores:
        from scipy.stats import gaussian_kde
        from sklearn.decomposition import PCA

        # a KDE in d dimensions needs more than d + 1 points for a full-rank bandwidth
        reference, attacked_non = reference_records(
            trained, self.reference_fraction, self.pca_components + 2, "attack.domias.reference_fraction"
        )
        flat = lambda idx: trained.pool.images[torch.as_tensor(idx)].flatten(1).double().numpy()  # noqa: E731
        pca = PCA(n_components=self.pca_components, random_state=0).fit(flat(reference))
        members = trained.membership.member_idx
        idx = np.concatenate([members, attacked_non])
        is_member = np.r_[np.ones(len(members), bool), np.zeros(len(attacked_non), bool)]
        x = pca.transform(flat(idx)).T
        p_gen = gaussian_kde(pca.transform(trained.sample(self.n_generated).flatten(1).double().numpy()).T)
        p_ref = gaussian_kde(pca.transform(flat(reference)).T)
        scores = p_gen.logpdf(x) - p_ref.logpdf(x)
        return AttackScores(
            scores=scores,
            is_member=is_member,
            record_idx=idx,
            threshold=top_m_threshold(scores, int(is_member.sum())),
            extra={"n_generated": self.n_generated, "n_reference": len(reference)},
            split={"domias_reference_idx": reference},
        )
