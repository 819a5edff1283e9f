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
from privgan_runner.training.trainer import Trainer

from .conftest import compose_config


def _dp_step(batch_size=8, n=32, **dp):
    torch.manual_seed(0)
    pool = Synthetic(image_size=16, n_samples=n).load()
    mech = DPSGD(**{"epsilon": 10.0, **dp})
    G, D = mech.build_models(DCGAN(width=8, z_dim=8), 16, 1, 10)
    trainer = Trainer(epochs=1, batch_size=batch_size, device="cpu", progress=False)
    codes = torch.zeros(n, dtype=torch.long)
    step = mech.make_step(G, D, JS(), NoRegularizer(), trainer=trainer, device=torch.device("cpu"), z_dim=8,
                          conditional=False, members=(pool.images, pool.labels, codes), steps=10)
    batch = pool.images[:batch_size].unsqueeze(0), pool.labels[:batch_size].unsqueeze(0), codes[:batch_size].unsqueeze(0)
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
    results, _ = tiny_run("privacy=dpsgd", "privacy.noise_multiplier=2.0", "privacy.poisson_sampling=false",
                          "privacy.accountant=prv")
    p = results["privacy"]
    assert p["noise_multiplier"] == 2.0 and p["accountant"] == "prv"
    assert "not a guarantee" in p["accounting_note"]


def test_every_per_sample_gradient_is_clipped():
    mech, step, D, batch = _dp_step(batch_size=1, noise_multiplier=0.0, max_grad_norm=1e-3, poisson_sampling=False)
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
    mech, step, D, batch = _dp_step(batch_size=8, noise_multiplier=0.0, max_grad_norm=1e-3, poisson_sampling=False)
    norms = []
    step.opt_d.original_optimizer.register_step_pre_hook(
        lambda opt, a, k: norms.append(torch.cat([p.grad.flatten() for p in D.parameters()]).norm()))
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


@pytest.mark.parametrize("override,key", [
    ("privacy.epsilon=0", "privacy.epsilon"),
    ("privacy.epsilon=-1", "privacy.epsilon"),
    ("privacy.delta=0", "privacy.delta"),
    ("privacy.delta=1.5", "privacy.delta"),
    ("privacy.max_grad_norm=0", "privacy.max_grad_norm"),
    ("privacy.accountant=moments", "privacy.accountant"),
])
def test_bad_dp_values_are_refused(override, key):
    with pytest.raises(ConfigError) as err:
        build_components(compose_config("privacy=dpsgd", override))
    assert err.value.key == key


@pytest.mark.parametrize("regularizer,reason", [("gradient_penalty", "double backward"),
                                                 ("spectral_norm", "per-sample gradients")])
def test_unwrappable_discriminators_are_refused_with_the_reason(tiny_run, regularizer, reason):
    with pytest.raises(ConfigError, match=reason):
        tiny_run("privacy=dpsgd", f"regularizer={regularizer}")
