"""FID, KID, Inception score and intra-FID through torchmetrics (see backbone.py for the networks).

Real data = every pool record that is not a member; generated = `n_samples` samples of G. The real-data
side of FID and KID (feature sums / features) is computed once per (backbone, real records) and cached on
disk next to the backbones, keyed by the backbone's identity and the content hash of the pool and the
records used, so re-evaluating a run, or another run with the same split, only
embeds its generated samples. Every number is written with its backbone, the backbone's test accuracy
and the sample counts.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..errors import ConfigError
from ..results import Figure
from ..seeds import derive
from .backbone import Features, Logits, cache_dir, domain_classifier, domain_key, inception
from .base import Metric

BACKBONES = ("domain", "inception")


def _feature_dim(net) -> int:
    """The backbone's feature width: the domain CNN's `num_features`, InceptionV3's pool features 2048."""
    return int(getattr(net, "num_features", 2048))


def _batches(x: torch.Tensor, device, size: int = 512):
    for start in range(0, x.shape[0], size):
        yield x[start : start + size].to(device)


class _Fidelity(Metric):
    def __init__(self, backbone: str = "domain", n_samples: int = 10_000, classifier_epochs: int = 10):
        if backbone not in BACKBONES:
            raise ConfigError("backbone", f"must be one of {', '.join(BACKBONES)}, got {backbone!r}")
        if not isinstance(n_samples, int) or n_samples < 2:
            raise ConfigError("n_samples", f"must be an integer >= 2, got {n_samples!r}")
        self.backbone, self.n_samples, self.classifier_epochs = backbone, n_samples, classifier_epochs

    #: what the metric reads from the network: "features" (FID, KID) or "logits" (Inception score)
    reads = "features"

    def _undersampled(self, dim: int, **counts: int) -> dict:
        """A note when a Frechet distance rests on fewer samples than features: its covariance estimates
        are then singular and the distance is biased upward (the bias grows as n shrinks; Chong & Forsyth
        2020, "Effectively Unbiased FID", Sec. 3), so the figure is not comparable to one at PIGAN's 1e4."""
        small = [f"{name}={n}" for name, n in counts.items() if n <= dim]
        if not small:
            return {}
        return {
            f"{self.name}_note": f"{', '.join(small)} <= {dim} backbone features: singular covariance estimates, "
            f"the distance is biased upward; raise metric.{self.name}.n_samples (PIGAN: 10000)"
        }

    def _network(self, trained):
        """(feature module, record dict) for the configured backbone; falls back to `domain`, saying why.
        The record's `<name>_backbone_key` is the backbone's identity (it keys the real-data cache)."""
        info = {}
        if self.backbone == "inception":
            net, described = inception("2048" if self.reads == "features" else "logits_unbiased")
            if net is not None:
                return net.to(trained.device), {
                    f"{self.name}_backbone": described,
                    f"{self.name}_backbone_key": described,
                }
            info[f"{self.name}_inception_unavailable"] = f"{described}; the domain backbone was used"
        clf, accuracy = domain_classifier(
            trained.pool_name,
            trained.pool,
            trained.membership.member_idx,
            trained.device,
            epochs=self.classifier_epochs,
        )
        info.update(
            {
                f"{self.name}_backbone": f"{trained.pool_name}-cnn",
                f"{self.name}_backbone_key": "domain-"
                + domain_key(trained.pool, trained.membership.member_idx, self.classifier_epochs, seed=0),
                f"{self.name}_backbone_test_accuracy": accuracy,
            }
        )
        return (Features(clf) if self.reads == "features" else Logits(clf)), info

    def _real(self, trained) -> torch.Tensor:
        """Every pool record that is not a member: the real distribution, without the training set."""
        outside = np.setdiff1d(np.arange(len(trained.pool)), trained.membership.member_idx)
        return trained.pool.images[torch.as_tensor(outside)]

    def _real_state(self, trained, info: dict, metric, names: tuple[str, ...]) -> int:
        """Fill `metric`'s real-data states from the disk cache, or compute and cache them; returns n_real."""
        backbone = info[f"{self.name}_backbone_key"]
        h = hashlib.sha256(f"{type(self).__name__} {backbone} {trained.pool.content_hash()}".encode())
        h.update(np.sort(trained.membership.member_idx).astype(np.int64).tobytes())  # the real records: the rest
        path = (
            cache_dir().parent
            / "real_stats"
            / f"{type(self).__name__.lower()}-{trained.pool_name}-{h.hexdigest()[:20]}.pt"
        )
        if path.is_file():
            saved = torch.load(path, map_location=trained.device, weights_only=False)
            for name in names:
                value = saved[name]
                setattr(metric, name, [value] if isinstance(getattr(metric, name), list) else value)
            return int(saved["n_real"])
        real = self._real(trained)
        for x in _batches(real, trained.device):
            metric.update(x, real=True)
        state = {name: getattr(metric, name) for name in names}
        state = {k: torch.cat(v) if isinstance(v, list) else v for k, v in state.items()}
        from ..io import write_torch

        write_torch(path, {**{k: v.cpu() for k, v in state.items()}, "n_real": int(real.shape[0])})
        return int(real.shape[0])


class FID(_Fidelity):
    name = "fid"
    figures = (Figure("fid", False, True, description="Frechet distance on the backbone's features"),)

    def compute(self, trained) -> dict:
        from torchmetrics.image.fid import FrechetInceptionDistance

        clf, info = self._network(trained)
        fid = FrechetInceptionDistance(feature=clf, normalize=False).to(trained.device)
        n_real = self._real_state(
            trained, info, fid, ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")
        )
        for x in _batches(trained.sample(self.n_samples), trained.device):
            fid.update(x, real=False)
        return {
            "fid": float(fid.compute()),
            **info,
            "fid_n_real": n_real,
            "fid_n_generated": self.n_samples,
            **self._undersampled(_feature_dim(clf), n_real=n_real, n_generated=self.n_samples),
        }


class InceptionScore(_Fidelity):
    name = "inception_score"
    reads = "logits"
    figures = (Figure("inception_score", True, True, description="exp E KL(p(y|x) || p(y)) on the backbone"),)
    #: the score is the mean over splits of the generated samples (Salimans et al. 2016's 10)
    splits = 10

    def __init__(self, backbone: str = "domain", n_samples: int = 10_000, classifier_epochs: int = 10):
        super().__init__(backbone, n_samples, classifier_epochs)
        if n_samples < 2 * self.splits:  # a split of one sample has KL 0 against its own marginal
            raise ConfigError(
                "n_samples", f"must be >= {2 * self.splits}: the score averages {self.splits} splits, got {n_samples}"
            )

    def compute(self, trained) -> dict:
        from torchmetrics.image.inception import InceptionScore as TMInceptionScore

        if trained.pool.n_classes < 2:
            return {"inception_score": None, "inception_score_reason": "the dataset has no class labels"}
        clf, info = self._network(trained)
        metric = TMInceptionScore(feature=clf, splits=self.splits).to(trained.device)
        for x in _batches(trained.sample(self.n_samples), trained.device):
            metric.update(x)
        mean, std = metric.compute()
        return {
            "inception_score": float(mean),
            "inception_score_std": float(std),
            **info,
            "inception_score_n_generated": self.n_samples,
        }


class KID(_Fidelity):
    name = "kid"
    figures = (Figure("kid", False, True, description="kernel distance on the backbone's features"),)

    def __init__(
        self, backbone: str = "domain", n_samples: int = 10_000, classifier_epochs: int = 10, subset_size: int = 1000
    ):
        super().__init__(backbone, n_samples, classifier_epochs)
        self.subset_size = subset_size

    def compute(self, trained) -> dict:
        from torchmetrics.image.kid import KernelInceptionDistance

        clf, info = self._network(trained)
        n_outside = len(trained.pool) - len(trained.membership.member_idx)
        subset = min(self.subset_size, n_outside, self.n_samples)
        kid = KernelInceptionDistance(feature=clf, subset_size=subset).to(trained.device)
        n_real = self._real_state(trained, info, kid, ("real_features",))
        for x in _batches(trained.sample(self.n_samples), trained.device):
            kid.update(x, real=False)
        mean, std = kid.compute()
        return {
            "kid": float(mean),
            "kid_std": float(std),
            **info,
            "kid_subset_size": subset,
            "kid_n_real": n_real,
            "kid_n_generated": self.n_samples,
        }


class IntraFID(_Fidelity):
    """Mean over classes of the FID between a class's real records and samples generated for that class
    (Miyato & Koyama); conditional models only."""

    name = "intra_fid"
    figures = (Figure("intra_fid", False, True, description="mean over classes of the class-wise FID"),)

    def compute(self, trained) -> dict:
        from torchmetrics.image.fid import FrechetInceptionDistance

        if not trained.conditional:
            return {"intra_fid": None, "intra_fid_reason": "the model is not class-conditional"}
        clf, info = self._network(trained)
        outside = np.setdiff1d(np.arange(len(trained.pool)), trained.membership.member_idx)
        real_labels = trained.pool.labels[torch.as_tensor(outside)]
        n_classes = trained.pool.n_classes
        per_class, fewest_real = [], None
        for k in range(n_classes):
            real = trained.pool.images[torch.as_tensor(outside)][real_labels == k]
            if real.shape[0] < 2:
                continue
            fewest_real = real.shape[0] if fewest_real is None else min(fewest_real, real.shape[0])
            fid = FrechetInceptionDistance(feature=clf).to(trained.device)
            for x in _batches(real, trained.device):
                fid.update(x, real=True)
            labels = torch.full((max(2, self.n_samples // n_classes),), k, dtype=torch.long)
            for x in _batches(
                trained.sample(len(labels), labels=labels, seed=derive(trained.seed, f"intra_fid:{k}")), trained.device
            ):
                fid.update(x, real=False)
            per_class.append(float(fid.compute()))
        return {
            "intra_fid": float(np.mean(per_class)),
            "intra_fid_per_class": per_class,
            **info,
            "intra_fid_n_generated_per_class": max(2, self.n_samples // n_classes),
            **self._undersampled(
                _feature_dim(clf),
                n_real_smallest_class=int(fewest_real or 0),
                n_generated_per_class=max(2, self.n_samples // n_classes),
            ),
        }
