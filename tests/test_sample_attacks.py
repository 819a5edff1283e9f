"""Sample-based attacks: Monte-Carlo and distance, against generators whose leak is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from privgan_runner.artifacts import TrainedGAN
from privgan_runner.attacks.distance import Distance
from privgan_runner.attacks.figures import membership_figures
from privgan_runner.attacks.monte_carlo import MonteCarlo
from privgan_runner.data.digits import Digits
from privgan_runner.data.split import split_pool
from privgan_runner.objectives.js import JS
from privgan_runner.privacy.none import NoPrivacy


class Resampler(nn.Module):
    """A 'generator' that returns noisy copies of fixed records."""

    def __init__(self, images: torch.Tensor, noise: float):
        super().__init__()
        self.images, self.noise = images, noise

    def forward(self, z, y=None, c=None):
        pick = torch.randint(0, self.images.shape[0], (z.shape[0],))
        return self.images[pick] + self.noise * torch.randn_like(self.images[pick])


def _trained(source: str, noise=0.05, seed=0):
    pool = Digits(image_size=8).load()
    split = split_pool(len(pool), 0.2, 1000, seed=seed)
    src = split.member_idx if source == "members" else split.nonmember_idx[-200:]
    G = Resampler(pool.images[torch.as_tensor(src)], noise)
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
        seed=seed,
    )


def test_monte_carlo_on_noisy_copies_of_members_is_far_above_chance():
    s = MonteCarlo(n_generated=4000, pca_components=20, m=50, repetitions=10, bootstrap=0).scores(_trained("members"))
    fig = membership_figures(s.scores, s.is_member, s.threshold, bootstrap=0)
    assert fig["auc"] > 0.8  # chance 0.5; eps is set by the non-member majority, so members tie less often
    assert s.extra["mc_set_accuracy"] > 0.9 and s.extra["mc_single_accuracy"] > 0.75
    assert len(s.split["reference_idx"]) >= 20 and not set(s.split["reference_idx"]) & set(s.record_idx)


def test_monte_carlo_on_a_non_member_sampler_is_at_chance():
    t = _trained("nonmembers", noise=0.05)
    s = MonteCarlo(n_generated=4000, pca_components=20, m=50, repetitions=20, bootstrap=0).scores(t)
    # the sampled non-members are themselves attacked records: leave them out, the rest is chance
    sampled = set(t.membership.nonmember_idx[-200:].tolist())
    keep = np.array([i not in sampled for i in s.record_idx])
    auc = membership_figures(s.scores[keep], s.is_member[keep], bootstrap=0)["auc"]
    assert abs(auc - 0.5) < 0.08


def test_monte_carlo_figures_equal_brute_force():
    from sklearn.decomposition import PCA

    t = _trained("members", noise=0.2, seed=3)
    attack = MonteCarlo(n_generated=300, pca_components=5, m=10, repetitions=3, chunk=64, bootstrap=0)
    torch.manual_seed(0)  # the resampler draws from the global generator: same seed, same samples
    s = attack.scores(t)
    torch.manual_seed(0)
    flat = lambda idx: t.pool.images[torch.as_tensor(idx)].flatten(1).numpy()  # noqa: E731  (float32, as the attack)
    pca = PCA(n_components=5, random_state=0).fit(flat(s.split["reference_idx"]))
    gen = pca.transform(t.sample(300).flatten(1).numpy()).astype(np.float64)
    rec = pca.transform(flat(s.record_idx)).astype(np.float64)
    d = np.sqrt(((rec[:, None, :] - gen[None, :, :]) ** 2).sum(-1))
    eps = np.median(d.min(1))
    assert s.extra["eps"] == pytest.approx(eps, rel=1e-5)
    np.testing.assert_allclose(s.scores, (d <= eps).mean(1), atol=2 / 300)  # at most a boundary sample apart


def test_distance_attack_on_member_copies():
    s = Distance(n_generated=2000, bootstrap=0).scores(_trained("members", noise=0.01))
    fig = membership_figures(s.scores, s.is_member, s.threshold, bootstrap=0)
    assert fig["auc"] > 0.95
    t = _trained("members", noise=0.01)
    torch.manual_seed(0)
    gen = t.sample(50).flatten(1)
    rec = t.pool.images[torch.as_tensor(t.attacked_idx[:7])].flatten(1)
    torch.manual_seed(0)
    s2 = Distance(n_generated=50, chunk=16, bootstrap=0).scores(t)
    brute = -torch.cdist(rec.double(), gen.double()).min(1).values
    np.testing.assert_allclose(s2.scores[:7], brute.numpy(), rtol=1e-5)


def test_pipeline_saves_the_reference_split(tiny_run):
    results, run_dir = tiny_run(
        "attack=[white_box,top_m,monte_carlo,distance]",
        "attack.monte_carlo.n_generated=200",
        "attack.monte_carlo.pca_components=4",
        "attack.monte_carlo.m=5",
        "attack.monte_carlo.repetitions=2",
        "attack.monte_carlo.bootstrap=0",
        "attack.distance.n_generated=100",
        "attack.distance.bootstrap=0",
    )
    mc = results["attacks"]["monte_carlo"]
    assert mc["mc_chance"] == 0.5 and mc["repetitions"] == 2 and mc["m"] == 5
    # each repetition's MC-Single accuracy is an expectation over tie-breaking of (hits / 5): a multiple of
    # 1/5 only without ties, so check the per-record figures against the saved scores instead
    from sklearn.metrics import roc_auc_score

    with np.load(run_dir / "scores" / "monte_carlo.npz") as f:
        assert mc["auc"] == pytest.approx(roc_auc_score(f["is_member"], f["scores"]))
        predicted = f["scores"] >= float(f["threshold"])
        assert (mc["f1"] is None) == bool(predicted.all() or not predicted.any())
    with np.load(run_dir / "membership.npz") as f:
        ref = f["reference_idx"]
        assert len(ref) == mc["n_reference"] and set(ref) <= set(f["nonmember_idx"])
    with np.load(run_dir / "scores" / "monte_carlo.npz") as f:
        assert not set(ref) & set(f["record_idx"])
    assert "distance" in results["attacks"]


def test_logan_on_member_copies_is_far_above_chance_and_excludes_known_records():
    from privgan_runner.attacks.logan import Logan

    t = _trained("members", noise=0.05)
    s = Logan(n_generated=1000, epochs=40, bootstrap=0).scores(t)
    fig = membership_figures(s.scores, s.is_member, s.threshold, bootstrap=0)
    assert fig["auc"] > 0.8
    known = set(s.split["aux_member_idx"]) | set(s.split["aux_nonmember_idx"])
    assert not known & set(s.record_idx)
    assert s.extra["n_aux_members"] == round(0.3 * len(t.membership.member_idx))


@pytest.mark.slow  # trains for long or runs subprocesses: make test-all
def test_logan_on_a_non_member_sampler_is_near_chance():
    from privgan_runner.attacks.logan import Logan

    t = _trained("nonmembers", noise=0.05)
    s = Logan(n_generated=1000, epochs=40, bootstrap=0).scores(t)
    sampled = set(t.membership.nonmember_idx[-200:].tolist())
    keep = np.array([i not in sampled for i in s.record_idx])
    auc = membership_figures(s.scores[keep], s.is_member[keep], bootstrap=0)["auc"]
    assert abs(auc - 0.5) < 0.1


def test_distances_match_a_float64_pairwise_reference_and_are_consistent():
    """The expansion in float64 agrees with float64 pairwise differences to ~1e-12 (float32 pairwise, what
    earlier versions computed, is off by ~1e-6 of the distance); a threshold taken from min_distance counts
    the record's own nearest sample, and blocks of any size give the same answer."""
    from privgan_runner.attacks.distances import min_distance, share_within

    gen = torch.Generator().manual_seed(0)
    records, generated = torch.rand(300, 784, generator=gen) * 2 - 1, torch.rand(1000, 784, generator=gen) * 2 - 1
    reference = torch.cdist(records.double(), generated.double(), compute_mode="donot_use_mm_for_euclid_dist")
    nearest = min_distance(records, generated, chunk=128)
    assert (nearest - reference.min(1).values).abs().max() < 1e-10
    old = torch.cdist(records, generated, compute_mode="donot_use_mm_for_euclid_dist").min(1).values.double()
    assert (old - reference.min(1).values).abs().max() > 1e-9  # float32 was measurably less exact
    assert torch.equal(nearest, min_distance(records, generated, chunk=1000))
    eps = nearest[7]
    share = share_within(records, generated, eps, chunk=77)
    assert share[7] * 1000 == (reference[7] <= reference[7].min()).sum()  # its nearest sample, exactly
    assert torch.equal(share, (reference <= eps).double().mean(1))  # every record's count, as the reference's


def test_domias_separates_a_member_copier_and_not_a_non_member_sampler():
    """DOMIAS's density ratio: high on the members a generator copies; near chance when it samples other
    non-members (the data distribution itself); its reference records are never attacked."""
    from privgan_runner.attacks.domias import Domias

    attack = Domias(n_generated=2000, pca_components=5, reference_fraction=0.3, bootstrap=0)
    s = attack.scores(_trained("members", noise=0.05))
    assert membership_figures(s.scores, s.is_member, bootstrap=0)["auc"] > 0.8  # 5 PCA dims of 8x8 digits
    assert not set(s.split["domias_reference_idx"]) & set(s.record_idx)
    t = _trained("nonmembers", noise=0.05)
    s = attack.scores(t)
    sampled = set(t.membership.nonmember_idx[-200:].tolist())
    keep = np.array([i not in sampled for i in s.record_idx])
    assert abs(membership_figures(s.scores[keep], s.is_member[keep], bootstrap=0)["auc"] - 0.5) < 0.1


def test_calibrated_distance_subtracts_the_reference_distance():
    t = _trained("members", noise=0.01)
    torch.manual_seed(0)
    plain = Distance(n_generated=500, bootstrap=0).scores(t)
    torch.manual_seed(0)
    cal = Distance(n_generated=500, bootstrap=0, calibrated=True, reference_fraction=0.2).scores(t)
    ref = cal.split["distance_reference_idx"]
    assert not set(ref) & set(cal.record_idx) and cal.extra["calibrated"] is True
    rec = t.pool.images[torch.as_tensor(cal.record_idx)].flatten(1).double()
    to_ref = torch.cdist(rec, t.pool.images[torch.as_tensor(ref)].flatten(1).double()).min(1).values.numpy()
    by_idx = dict(zip(plain.record_idx.tolist(), plain.scores.tolist()))
    expected = np.array([by_idx[i] for i in cal.record_idx.tolist()]) + to_ref
    np.testing.assert_allclose(cal.scores, expected, atol=1e-9)
    assert membership_figures(cal.scores, cal.is_member, bootstrap=0)["auc"] > 0.9
    assert not Distance(calibrated=True).label_free_scores and Distance().label_free_scores
