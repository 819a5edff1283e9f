"""Privacy mechanisms: PIGAN's classifier is fooled as lambda grows; validators refuse bad values."""

from __future__ import annotations

import pytest

from privgan_runner.errors import ConfigError
from privgan_runner.pipeline import build_components

from .conftest import compose_config


def _q_accuracy(tiny_run, lam, tmp_path):
    results, _ = tiny_run(
        "privacy=pigan",
        f"privacy.lam={lam}",
        "privacy.n_groups=2",
        "privacy.pretrain_epochs=20",
        "privacy.warmup_epochs=10",
        "dataset.n_samples=32",
        "trainer.epochs=160",
        "trainer.batch_size=8",
        "trainer.log_every=40",
        "model.width=16",
        run_dir=tmp_path / f"lam{lam}",
    )
    assert results["status"] == "completed"
    assert results["privacy"]["classifier_pretrain_accuracy"] > 0.6  # Q learned the groups of the 16 members
    return results["train"]["final"]["q_accuracy"]


@pytest.mark.slow  # trains for long or runs subprocesses: make test-all
def test_pigan_q_accuracy_falls_toward_chance_as_lambda_grows(tiny_run, tmp_path):
    accuracy = {lam: _q_accuracy(tiny_run, lam, tmp_path) for lam in (0, 10)}
    assert accuracy[0] > 0.75, accuracy  # a memorizing conditional G gives its groups away
    assert accuracy[10] < accuracy[0] - 0.15, accuracy
    assert abs(accuracy[10] - 0.5) < 0.2, accuracy


def test_pigan_results_and_views(tiny_run):
    results, run_dir = tiny_run(
        "privacy=pigan",
        "privacy.n_groups=3",
        "privacy.pretrain_epochs=1",
        "privacy.warmup_epochs=1",
        "trainer.epochs=3",
        "attack=[white_box,top_m,tvd]",
    )
    assert results["privacy"]["mechanism"] == "pigan" and results["privacy"]["n_groups"] == 3
    assert results["privacy"]["lam"] == 1.0
    tvd = results["attacks"]["tvd"]
    assert len(tvd["tvd_per_view"]) == 3 and tvd["tvd"] == max(tvd["tvd_per_view"])
    assert "balanced_accuracy_bound" not in tvd


@pytest.mark.parametrize(
    "override,key",
    [
        ("privacy=pigan privacy.n_groups=1", "privacy.n_groups"),
        ("privacy=pigan privacy.lam=-1", "privacy.lam"),
    ],
)
def test_bad_privacy_values_are_refused(override, key):
    with pytest.raises(ConfigError) as err:
        build_components(compose_config(*override.split()))
    assert err.value.key == key


def test_pigan_warmup_longer_than_training_is_refused(tiny_run):
    with pytest.raises(ConfigError, match="privacy.warmup_epochs"):
        tiny_run("privacy=pigan", "privacy.warmup_epochs=5", "trainer.epochs=2")


def test_privgan_trains_n_pairs_and_reports_max_and_mean(tiny_run):
    results, run_dir = tiny_run(
        "privacy=privgan",
        "privacy.n_groups=2",
        "privacy.pretrain_epochs=2",
        "privacy.warmup_epochs=1",
        "trainer.epochs=4",
        "attack=[white_box,top_m,tvd]",
    )
    assert results["status"] == "completed"
    p = results["privacy"]
    assert p["mechanism"] == "privgan" and p["n_groups"] == 2 and p["classifier_pretrain_accuracy"] is not None
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


def _classifier_step(mechanism_name: str, warmup_epochs: int, **options):
    """A PIGAN or PrivGAN step on tiny synthetic data, with its classifier's optimizer."""
    import torch

    from privgan_runner.data.synthetic import Synthetic
    from privgan_runner.models.dcgan import DCGAN
    from privgan_runner.objectives.js import JS
    from privgan_runner.privacy.pigan import PIGAN
    from privgan_runner.privacy.privgan import PrivGAN
    from privgan_runner.regularizers.none import NoRegularizer

    from .helpers import step_context

    torch.manual_seed(0)
    pool = Synthetic(image_size=16, n_samples=32).load()
    kind = {"pigan": PIGAN, "privgan": PrivGAN}[mechanism_name]
    mech = kind(lam=1.0, n_groups=2, warmup_epochs=warmup_epochs, pretrain_epochs=1, **options)
    G, D = mech.build_models(DCGAN(width=8, z_dim=8), 16, 1, 10)
    codes = mech.member_codes(32, seed=0)
    step = mech.make_step(G, D, JS(), NoRegularizer(), step_context((pool.images, pool.labels, codes)))
    batch = (pool.images[:8].unsqueeze(0), pool.labels[:8].unsqueeze(0), codes[:8].unsqueeze(0))
    return mech, step, mech.switch.optimizer, batch


@pytest.mark.parametrize("mechanism", ["pigan", "privgan"])
def test_first_update_after_the_warmup_is_a_fresh_adams(mechanism):
    """Held still by a zero loss during the warm-up, the classifier's Adam still counted steps; its first real
    update must nevertheless equal a fresh Adam's on the same gradient (not ~16x it)."""
    import copy

    import torch

    mech, step, opt, batch = _classifier_step(mechanism, warmup_epochs=1)
    mech.on_epoch(0)
    for _ in range(6):
        step(*batch)
    params = [p for group in opt.param_groups for p in group["params"]]
    frozen = [p.detach().clone() for p in params]
    assert all(torch.equal(a, b) for a, b in zip(frozen, [p.detach() for p in params]))
    mech.on_epoch(1)  # the switch
    seen = {}
    opt.register_step_pre_hook(lambda o, a, k: seen.setdefault("grads", [p.grad.clone() for p in params]) and None)
    step(*batch)
    fresh_params = [torch.nn.Parameter(p.clone()) for p in frozen]
    fresh = torch.optim.Adam(fresh_params, lr=opt.param_groups[0]["lr"], betas=opt.param_groups[0]["betas"])
    for p, g in zip(fresh_params, seen["grads"]):
        p.grad = g
    fresh.step()
    moved = torch.cat([(p.detach() - f).flatten() for p, f in zip(params, frozen)])
    expected = torch.cat([(p.detach() - f).flatten() for p, f in zip(fresh_params, frozen)])
    assert moved.abs().max() > 0
    assert torch.allclose(moved, expected, rtol=1e-4, atol=1e-9), float(moved.norm() / expected.norm())
    assert copy.deepcopy(mech.describe())["penalty_during_warmup"] is True


@pytest.mark.parametrize("during", [True, False])
def test_pigan_penalty_during_warmup_is_a_choice(during):
    mech, step, opt, batch = _classifier_step("pigan", warmup_epochs=1, penalty_during_warmup=during)
    mech.on_epoch(0)
    assert float(mech.switch.train_on) == 0.0 and float(mech.switch.penalty_on) == float(during)
    mech.on_epoch(1)
    assert float(mech.switch.train_on) == 1.0 and float(mech.switch.penalty_on) == 1.0
