"""Privacy mechanisms: PIGAN's classifier is fooled as lambda grows; validators refuse bad values."""
from __future__ import annotations

import pytest

from privgan_runner.errors import ConfigError
from privgan_runner.pipeline import build_components

from .conftest import compose_config


def _q_accuracy(tiny_run, lam, tmp_path):
    results, _ = tiny_run("privacy=pigan", f"privacy.lam={lam}", "privacy.n_groups=2", "privacy.q_pretrain_epochs=20",
                          "privacy.warmup_epochs=10", "dataset.n_samples=32", "trainer.epochs=160",
                          "trainer.batch_size=8", "trainer.log_every=40", "model.width=16",
                          run_dir=tmp_path / f"lam{lam}")
    assert results["status"] == "completed"
    assert results["privacy"]["q_pretrain_accuracy"] > 0.6  # Q learned the groups of the 16 members
    return results["train"]["final"]["q_accuracy"]


def test_pigan_q_accuracy_falls_toward_chance_as_lambda_grows(tiny_run, tmp_path):
    accuracy = {lam: _q_accuracy(tiny_run, lam, tmp_path) for lam in (0, 10)}
    assert accuracy[0] > 0.75, accuracy  # a memorizing conditional G gives its groups away
    assert accuracy[10] < accuracy[0] - 0.15, accuracy
    assert abs(accuracy[10] - 0.5) < 0.2, accuracy


def test_pigan_results_and_views(tiny_run):
    results, run_dir = tiny_run("privacy=pigan", "privacy.n_groups=3", "privacy.q_pretrain_epochs=1",
                                "privacy.warmup_epochs=1", "trainer.epochs=3", "attack=[white_box,top_m,tvd]")
    assert results["privacy"]["mechanism"] == "pigan" and results["privacy"]["n_groups"] == 3
    assert results["privacy"]["lam"] == 1.0
    tvd = results["attacks"]["tvd"]
    assert len(tvd["tvd_per_view"]) == 3 and tvd["tvd"] == max(tvd["tvd_per_view"])
    assert tvd["balanced_accuracy_bound"] == pytest.approx((1 + tvd["tvd"]) / 2)


@pytest.mark.parametrize("override,key", [
    ("privacy=pigan privacy.n_groups=1", "privacy.n_groups"),
    ("privacy=pigan privacy.lam=-1", "privacy.lam"),
])
def test_bad_privacy_values_are_refused(override, key):
    with pytest.raises(ConfigError) as err:
        build_components(compose_config(*override.split()))
    assert err.value.key == key


def test_pigan_warmup_longer_than_training_is_refused(tiny_run):
    with pytest.raises(ConfigError, match="privacy.warmup_epochs"):
        tiny_run("privacy=pigan", "privacy.warmup_epochs=5", "trainer.epochs=2")


def test_privgan_trains_n_pairs_and_reports_max_and_mean(tiny_run):
    results, run_dir = tiny_run("privacy=privgan", "privacy.n_groups=2", "privacy.p_pretrain_epochs=2",
                                "privacy.warmup_epochs=1", "trainer.epochs=4", "attack=[white_box,top_m,tvd]")
    assert results["status"] == "completed"
    p = results["privacy"]
    assert p["mechanism"] == "privgan" and p["n_groups"] == 2 and p["p_pretrain_accuracy"] is not None
    assert results["train"]["steps"] == 4 * ((32 // 2) // 8)  # an epoch is one pass over a group
    wb = results["attacks"]["white_box"]
    assert set(wb["mean_over_views"]) >= {"auc", "top_m_accuracy"}
    assert len(results["attacks"]["tvd"]["tvd_per_view"]) == 2
    import torch

    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=False)
    assert any(k.startswith("members.1.") for k in state["D"]) and "P" in state["privacy"]


def test_privgan_generators_see_only_their_group():
    import torch

    from privgan_runner.privacy.privgan import PrivGAN

    codes = PrivGAN(n_groups=3).member_codes(30, seed=0)
    assert torch.bincount(codes).tolist() == [10, 10, 10]
    assert not torch.equal(codes, PrivGAN(n_groups=3).member_codes(30, seed=1))


def test_param_counts_match_the_pigan_paper():
    """PIGAN appendix: F-MNIST GAN 2.24M, PIGAN 2.98M, PrivGAN 5.11M; CIFAR-10 1.93M / 2.59M / 4.39M."""
    from privgan_runner.models.pigan_dcgan import PiganDCGAN

    paper = {"fashion_mnist": (2.24, 2.98, 5.11), "cifar10": (1.93, 2.59, 4.39)}
    for arch, (size, ch) in PiganDCGAN.SHAPES.items():
        model = PiganDCGAN(arch)
        count = lambda *ms: sum(p.numel() for m in ms for p in m.parameters()) / 1e6  # noqa: E731
        gan = count(*model.build(size, ch, 10))
        pigan = count(*model.build(size, ch, 10, n_codes=2), model.build_classifier(2))
        privgan = 2 * gan + count(model.build_classifier(2))
        for ours, theirs in zip((gan, pigan, privgan), paper[arch]):
            assert ours == pytest.approx(theirs, rel=0.02), (arch, ours, theirs)
