"""FID / Inception score through torchmetrics on the domain backbone: known answers on known inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from privgan_runner.artifacts import TrainedGAN
from privgan_runner.data.digits import Digits
from privgan_runner.data.split import split_pool
from privgan_runner.metrics import fidelity
from privgan_runner.metrics.fidelity import FID, InceptionScore
from privgan_runner.objectives.js import JS
from privgan_runner.privacy.none import NoPrivacy

from .test_sample_attacks import Resampler


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PRIVGAN_RUNNER_CACHE", str(tmp_path / "cache"))


def _trained(G, pool=None, member_fraction=0.1, pool_name="digits"):
    pool = Digits(image_size=8).load() if pool is None else pool
    split = split_pool(len(pool), member_fraction, None, seed=0)
    return TrainedGAN(
        G=G,
        D=nn.Identity(),
        objective=JS(),
        pool=pool,
        membership=split,
        z_dim=4,
        conditional=False,
        device=torch.device("cpu"),
        privacy=NoPrivacy(),
        pool_name=pool_name,
    )


class Noise(nn.Module):
    def forward(self, z, y=None, c=None):
        return torch.rand(z.shape[0], 1, 8, 8) * 2 - 1


def test_fid_of_real_against_real_is_near_zero_and_against_noise_large(tmp_path):
    pool = Digits(image_size=8).load()
    split = split_pool(len(pool), 0.1, None, seed=0)
    outside = np.setdiff1d(np.arange(len(pool)), split.member_idx)
    real_copies = _trained(Resampler(pool.images[torch.as_tensor(outside)], noise=0.0))
    same = FID(n_samples=3000, classifier_epochs=5).compute(real_copies)
    noise = FID(n_samples=3000, classifier_epochs=5).compute(_trained(Noise()))
    assert same["fid_backbone"] == "digits-cnn" and same["fid_backbone_test_accuracy"] > 0.9
    assert same["fid"] < 1.0, same
    assert noise["fid"] > 50 * max(same["fid"], 0.1), (same, noise)
    assert list((tmp_path / "cache" / "backbones").glob("digits-8x1-*.pt"))  # trained once, cached
    assert "fid_note" not in same  # 3000 generated, 1617 real: more than the 128 features
    few = FID(n_samples=2, classifier_epochs=5).compute(_trained(Noise()))  # e.g. metric.fid.n_samples=2
    assert few["fid_note"].startswith("n_generated=2 <= 128 backbone features") and "n_real" not in few["fid_note"]


def test_inception_score_of_an_ideal_classifier_is_the_class_count(monkeypatch):
    class Ideal(nn.Module):
        """Reads the class from the image: record k's label is written as a one-hot in its first row."""

        def forward(self, x):
            return 60.0 * (x[:, 0, 0, :8] > 0).float()

        def body(self, x):
            return x.flatten(1)

    labels = torch.arange(8).repeat(100)
    images = -torch.ones(800, 1, 8, 8)
    images[torch.arange(800), 0, 0, labels] = 1.0
    monkeypatch.setattr(fidelity, "domain_classifier", lambda *a, **k: (Ideal(), 1.0))
    out = InceptionScore(n_samples=800).compute(_trained(Resampler(images, noise=0.0)))
    assert out["inception_score"] == pytest.approx(8.0, rel=0.05)
    one_class = InceptionScore(n_samples=800).compute(_trained(Resampler(images[labels == 3], noise=0.0)))
    assert one_class["inception_score"] == pytest.approx(1.0, rel=0.01)  # no diversity: exp(KL = 0)


def test_inception_backbone_falls_back_honestly(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "pt_inception.pth"
    monkeypatch.setenv("PRIVGAN_RUNNER_INCEPTION_WEIGHTS", str(missing))
    out = FID(backbone="inception", n_samples=200, classifier_epochs=1).compute(_trained(Noise()))
    assert out["fid_backbone"] == "digits-cnn"
    assert (
        str(missing) in out["fid_inception_unavailable"]
        and "domain backbone was used" in out["fid_inception_unavailable"]
    )


def test_inception_backbone_is_used_when_its_weights_are_on_disk(tmp_path, monkeypatch):
    from privgan_runner.metrics import backbone

    weights = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    weights.write_bytes(b"stand-in")
    monkeypatch.setenv("PRIVGAN_RUNNER_INCEPTION_WEIGHTS", str(weights))
    seen = {}

    class StandIn(nn.Module):  # what NoTrainInceptionV3 receives: uint8 RGB
        def forward(self, x):
            seen["dtype"], seen["channels"] = x.dtype, x.shape[1]
            return x.float().flatten(1)[:, :2048].repeat(1, 64)[:, :2048]

    monkeypatch.setattr(backbone, "_load_inception", lambda output, path: StandIn())
    out = FID(backbone="inception", n_samples=300).compute(_trained(Noise()))
    assert out["fid_backbone"] == f"inception-v3 ({weights})" and "fid_inception_unavailable" not in out
    assert seen == {"dtype": torch.uint8, "channels": 3}


class LabelCopier(nn.Module):
    """A conditional 'generator' that returns a real record of the asked class."""

    def __init__(self, images, labels):
        super().__init__()
        self.images, self.labels = images, labels

    def forward(self, z, y=None, c=None):
        out = []
        for k in y.tolist():
            pool = self.images[self.labels == k]
            out.append(pool[torch.randint(0, len(pool), (1,))])
        return torch.cat(out)


def _conditional(G):
    t = _trained(G)
    t.conditional = True
    return t


def test_classification_utility_of_a_perfect_conditional_generator():
    from privgan_runner.metrics.classification import Classification

    pool = Digits(image_size=8).load()
    out = Classification(n_samples=1500, epochs=8).compute(_conditional(LabelCopier(pool.images, pool.labels)))
    assert out["gen2real_accuracy"] > 0.85 and out["real2gen_accuracy"] > 0.85
    noise = Classification(n_samples=1500, epochs=3).compute(_conditional(Noise()))
    assert noise["gen2real_accuracy"] < 0.3  # labels carried by noise teach nothing about digits
    plain = Classification(n_samples=10, epochs=1).compute(_trained(Noise()))
    assert plain["gen2real_accuracy"] is None and "not class-conditional" in plain["gen2real_accuracy_reason"]


def test_intra_fid_and_kid():
    from privgan_runner.metrics.fidelity import KID, IntraFID

    pool = Digits(image_size=8).load()
    good = IntraFID(n_samples=2000, classifier_epochs=5).compute(_conditional(LabelCopier(pool.images, pool.labels)))
    bad = IntraFID(n_samples=2000, classifier_epochs=5).compute(_conditional(Noise()))
    assert len(good["intra_fid_per_class"]) == 10 and good["intra_fid"] < bad["intra_fid"] / 20
    assert IntraFID(n_samples=20).compute(_trained(Noise()))["intra_fid"] is None
    kid_good = KID(n_samples=1000, classifier_epochs=5, subset_size=200).compute(
        _trained(Resampler(pool.images, noise=0.0))
    )
    kid_bad = KID(n_samples=1000, classifier_epochs=5, subset_size=200).compute(_trained(Noise()))
    assert abs(kid_good["kid"]) < 0.05 < kid_bad["kid"]


def test_real_statistics_are_cached_and_reused(tmp_path):
    pool = Digits(image_size=8).load()
    first = FID(n_samples=500, classifier_epochs=2).compute(_trained(Resampler(pool.images, noise=0.0)))
    stats = list((tmp_path / "cache" / "real_stats").glob("fid-digits-*.pt"))
    assert len(stats) == 1
    before = stats[0].stat().st_mtime_ns
    torch.manual_seed(0)
    again = FID(n_samples=500, classifier_epochs=2).compute(_trained(Resampler(pool.images, noise=0.0)))
    assert stats[0].stat().st_mtime_ns == before  # read, not rewritten
    assert again["fid_n_real"] == first["fid_n_real"] and abs(again["fid"] - first["fid"]) < 0.5


def test_caches_are_keyed_by_content_not_by_name(tmp_path, monkeypatch):
    """Two pools with the same name, shape and member indices but other images share no cache: the second
    FID with a warm cache equals its FID computed from a cold one."""
    from privgan_runner.data.synthetic import Synthetic

    def fid_of(generator_seed, cache):
        monkeypatch.setenv("PRIVGAN_RUNNER_CACHE", str(tmp_path / cache))
        pool = Synthetic(image_size=8, n_samples=400, generator_seed=generator_seed).load()
        trained = _trained(Noise(), pool, member_fraction=0.5, pool_name="synthetic")
        torch.manual_seed(0)
        return FID(n_samples=300, classifier_epochs=2).compute(trained)

    fid_of(1, "shared")
    warm = fid_of(2, "shared")
    cold = fid_of(2, "fresh")
    assert warm["fid"] == pytest.approx(cold["fid"], rel=1e-6)
    assert warm["fid_backbone_key"] == cold["fid_backbone_key"] != fid_of(1, "shared")["fid_backbone_key"]
    assert len(list((tmp_path / "shared" / "backbones").glob("*.pt"))) == 2


def test_an_inception_score_from_fewer_samples_than_two_per_split_is_refused():
    from privgan_runner.errors import ConfigError

    with pytest.raises(ConfigError, match="n_samples: must be >= 20"):
        InceptionScore(n_samples=5)
