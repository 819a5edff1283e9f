"""DP-SGD on D: accounting matches Opacus, per-sample gradients are clipped, the G step leaves none."""

from __future__ import annotations

import pytest
import torch
from opacus.accountants import create_accountant

from privgan_runner.data.synthetic import Synthetic
from privgan_runner.errors import ConfigError
from privgan_runner.models.dcgan import DCGAN
from privgan_runner.objectives.js import JS
from privgan_runner.pipeline import build_components
from privgan_runner.privacy.dpsgd import DPSGD
from privgan_runner.regularizers.none import NoRegularizer

from .conftest import compose_config
from .helpers import step_context


def _dp_step(batch_size=8, n=32, conditional=False, labels=None, G_wrapper=None, **dp):
    torch.manual_seed(0)
    pool = Synthetic(image_size=16, n_samples=n).load()
    mech = DPSGD(**dp)
    G, D = mech.build_models(DCGAN(width=8, z_dim=8, conditional=conditional), 16, 1, 10)
    if G_wrapper is not None:
        G = G_wrapper(G)
    codes = torch.zeros(n, dtype=torch.long)
    Y = pool.labels if labels is None else labels(pool.labels)
    ctx = step_context((pool.images, Y, codes), batch_size=batch_size, conditional=conditional)
    step = mech.make_step(G, D, JS(), NoRegularizer(), ctx)
    batch = (
        pool.images[:batch_size].unsqueeze(0),
        pool.labels[:batch_size].unsqueeze(0),
        codes[:batch_size].unsqueeze(0),
    )
    return mech, step, D, batch


def test_epsilon_in_results_equals_opacus_recomputed(tiny_run):
    results, _ = tiny_run("privacy=dpsgd", "privacy.epsilon=5", "privacy.delta=1e-4", "trainer.epochs=3")
    p = results["privacy"]
    assert p["steps"] == p["planned_steps"] == 3 * (32 // 8)
    assert p["sample_rate"] == pytest.approx(8 / 32)
    acc = create_accountant(mechanism="rdp")
    acc.history = [(p["noise_multiplier"], p["sample_rate"], p["steps"])]
    assert p["epsilon"] == pytest.approx(acc.get_epsilon(delta=1e-4))
    assert p["epsilon"] <= 5.0 and p["epsilon"] > 4.9  # Opacus chose sigma to spend (almost) all of it
    assert p["poisson_sampling"] is True and "accounting_note" not in p
    assert any("BatchNorm2d -> GroupNorm" in c for c in p["converted"])


def test_explicit_noise_multiplier_and_broken_sampling_are_reported(tiny_run):
    results, _ = tiny_run(
        "privacy=dpsgd",
        "privacy.epsilon=null",
        "privacy.noise_multiplier=2.0",
        "privacy.poisson_sampling=false",
        "privacy.accountant=prv",
    )
    p = results["privacy"]
    assert p["noise_multiplier"] == 2.0 and p["accountant"] == "prv"
    assert "not a guarantee" in p["accounting_note"]


def test_every_per_sample_gradient_is_clipped():
    mech, step, D, batch = _dp_step(batch_size=1, noise_multiplier=1e-12, max_grad_norm=1e-3, poisson_sampling=False)
    seen = {}
    inner = step.opt_d.original_optimizer

    def record(*args, **kwargs):
        seen["raw"] = torch.cat([p.grad_sample.flatten(1) for p in D.parameters()], 1).norm(dim=1)
        return original_pre_step(*args, **kwargs)

    def after(opt, args, kwargs):
        seen["update"] = torch.cat([p.grad.flatten() for p in D.parameters()]).norm()

    original_pre_step = step.opt_d.pre_step
    step.opt_d.pre_step = record
    inner.register_step_pre_hook(after)
    step(*batch)
    assert seen["raw"].shape == (1,) and float(seen["raw"][0]) > 1e-2  # far above the bound ...
    assert float(seen["update"]) == pytest.approx(1e-3, rel=1e-3)  # ... and clipped to it


def test_averaged_clipped_gradients_respect_the_bound():
    mech, step, D, batch = _dp_step(batch_size=8, noise_multiplier=1e-12, max_grad_norm=1e-3, poisson_sampling=False)
    norms = []
    step.opt_d.original_optimizer.register_step_pre_hook(
        lambda opt, a, k: norms.append(torch.cat([p.grad.flatten() for p in D.parameters()]).norm())
    )
    step(*batch)
    assert norms and float(norms[0]) <= 1e-3 * (1 + 1e-4)


def test_generator_step_leaves_no_per_sample_state_on_d():
    mech, step, D, batch = _dp_step()
    step(*batch)
    for p in D.parameters():
        assert getattr(p, "grad_sample", None) is None
    for m in D.modules():
        assert not getattr(m, "activations", [])  # the G step's forward through D captured nothing
    assert mech.spent_epsilon() > 0


@pytest.mark.parametrize(
    "override,key",
    [
        ("privacy.epsilon=0", "privacy.epsilon"),
        ("privacy.epsilon=-1", "privacy.epsilon"),
        ("privacy.delta=0", "privacy.delta"),
        ("privacy.delta=1.5", "privacy.delta"),
        ("privacy.max_grad_norm=0", "privacy.max_grad_norm"),
        ("privacy.accountant=moments", "privacy.accountant"),
    ],
)
def test_bad_dp_values_are_refused(override, key):
    with pytest.raises(ConfigError) as err:
        build_components(compose_config("privacy=dpsgd", override))
    assert err.value.key == key


@pytest.mark.parametrize(
    "regularizer,reason", [("gradient_penalty", "double backward"), ("spectral_norm", "per-sample gradients")]
)
def test_unwrappable_discriminators_are_refused_with_the_reason(tiny_run, regularizer, reason):
    with pytest.raises(ConfigError, match=reason):
        tiny_run("privacy=dpsgd", f"regularizer={regularizer}")


class _RecordingG(torch.nn.Module):
    """G that records every input it gets (noise, labels, codes) and whether it was called for a G step."""

    def __init__(self, G):
        super().__init__()
        self.G, self.calls = G, []

    def forward(self, z, y=None, c=None):
        self.calls.append((z.detach().clone(), None if y is None else y.clone(), torch.is_grad_enabled()))
        return self.G(z, y, c)


def _g_inputs(labels):
    G_seen = {}

    def wrap(G):
        G_seen["G"] = _RecordingG(G)
        return G_seen["G"]

    mech, step, D, batch = _dp_step(batch_size=8, n=64, conditional=True, labels=labels, G_wrapper=wrap)
    counts = []
    for _ in range(4):  # Poisson batches of random sizes
        step(*(t.repeat(2, *[1] * (t.dim() - 1)) for t in batch))  # n_critic = 2
        counts.append(len(G_seen["G"].calls))
    return G_seen["G"].calls


def test_everything_g_sees_is_independent_of_which_records_were_sampled():
    """The DP guarantee covers D's clipped, noised update only: G's inputs (noise, generated labels, the G
    step's batch size) must be the same whichever labels the sampled members carry."""
    original = _g_inputs(None)
    permuted = _g_inputs(lambda y: y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))])
    relabelled = _g_inputs(lambda y: (y + 3) % 10)
    assert len(original) == len(permuted) == len(relabelled)
    for a, b, c in zip(original, permuted, relabelled):
        assert torch.equal(a[0], b[0]) and torch.equal(a[0], c[0])  # noise
        assert torch.equal(a[1], b[1]) and torch.equal(a[1], c[1])  # generated records' labels
    g_steps = [call for call in original if call[2]]
    assert len(g_steps) == 4  # one G forward with gradients per step ...
    assert all(call[0].shape[0] == 8 for call in g_steps)  # ... on trainer.batch_size records, never the Poisson count
    # the D steps' generated records come in chunks of batch_size too: the Poisson counts never reach G
    assert all(call[0].shape[0] == 8 for call in original)


def test_dp_results_name_the_label_prior_and_what_is_not_covered(tiny_run):
    results, _ = tiny_run("privacy=dpsgd", "model.conditional=true", "metric=[gen_gap]")
    p = results["privacy"]
    assert p["fake_label_prior"] == "uniform over the classes"
    assert any("losses" in item for item in p["not_covered"])


def test_a_weight_penalty_that_dp_would_drop_is_refused(tiny_run):
    with pytest.raises(ConfigError, match="not per-sample"):
        tiny_run("privacy=dpsgd", "regularizer=orthonormal")


def test_bf16_is_refused_under_dp_before_training(tiny_run):
    """Opacus' per-sample gradients cannot be bfloat16 for float32 parameters: refused, naming the key."""
    with pytest.raises(ConfigError, match="trainer.precision"):
        tiny_run("privacy=dpsgd", "trainer.precision=bf16")


def test_reattacking_a_dp_run_keeps_training_s_privacy_record(tiny_run):
    results, run_dir = tiny_run("privacy=dpsgd", "privacy.epsilon=5")
    again, _ = tiny_run(
        "privacy=dpsgd",
        "privacy.epsilon=5",
        "stages=[attack,evaluate]",
        "attack=[white_box,top_m,tvd]",
        run_dir=run_dir,
    )
    assert again["privacy"] == results["privacy"]
    assert again["privacy"]["epsilon"] > 4.9 and again["privacy"]["steps"] == results["privacy"]["steps"] > 0
    assert "tvd" in again["attacks"]


def test_the_progress_bar_shows_the_epsilon_spent():
    mech, step, D, batch = _dp_step()
    assert mech.progress() == {}
    step(*batch)
    assert float(mech.progress()["eps"]) == pytest.approx(mech.spent_epsilon(), abs=0.005) and mech.spent_epsilon() > 0


WGAN_GP = ("objective=wasserstein", "regularizer=gradient_penalty", "model.conditional=true", "objective.n_critic=1")
GS = (*WGAN_GP, "privacy.n_discriminators=4")


@pytest.mark.parametrize(
    "overrides, key",
    [
        (("privacy=dpsgd", "privacy.epsilon=1", "privacy.noise_multiplier=2"), "privacy.noise_multiplier"),
        (("privacy=dpsgd", "privacy.epsilon=null", "privacy.noise_multiplier=0"), "privacy.noise_multiplier"),
        (("privacy=dpsgd", "privacy.epsilon=null", "privacy.noise_multiplier=inf"), "privacy.noise_multiplier"),
        (("privacy=dpsgd", "privacy.epsilon=inf"), "privacy.epsilon"),
        (("privacy=dpsgd", "privacy.epsilon=nan"), "privacy.epsilon"),
        (("privacy=dpsgd", "privacy.epsilon=1e-6"), "privacy.epsilon"),
        (("privacy=dpsgd", "privacy.max_grad_norm=inf"), "privacy.max_grad_norm"),
        (("privacy=dpgan", "privacy.grad_sample=opacus", *WGAN_GP), "privacy.grad_sample"),
        (("privacy=dpgan", "privacy.epsilon=1e-6", *WGAN_GP), "privacy.epsilon"),
        (("privacy=gswgan", "privacy.clip=inf", *GS), "privacy.clip"),
        (("privacy=gswgan", "privacy.epsilon=1e-6", *GS), "privacy.epsilon"),
        (("privacy=dpac", "privacy.epsilon=3", "privacy.noise_multiplier=1", *GS), "privacy.noise_multiplier"),
    ],
)
def test_a_dp_budget_that_cannot_hold_is_refused_before_anything_is_written(tiny_run, tmp_path, overrides, key):
    """Both epsilon and a noise multiplier (the multiplier would silently win), no noise, infinities, a target no
    noise multiplier reaches (computed while checking, not after the run folder is filled), an infinite clip."""
    run_dir = tmp_path / "refused"
    with pytest.raises(ConfigError) as err:
        tiny_run(*overrides, run_dir=run_dir)
    assert err.value.key == key, err.value
    assert sorted(p.name for p in run_dir.iterdir()) == ["status.json"]


def test_dpgan_accepts_its_only_grad_sample(tiny_run):
    results, _ = tiny_run("privacy=dpgan", "privacy.grad_sample=fast", *WGAN_GP, "trainer.epochs=1")
    assert results["status"] == "completed"
