"""dp-GAN (Zhang, Ji & Wang): per-sample gradient-penalty gradients, grouped clipping, public data, accounting."""

from __future__ import annotations

import math

import pytest
import torch
from opacus.accountants import create_accountant

from privgan_runner.data.synthetic import Synthetic
from privgan_runner.errors import ConfigError
from privgan_runner.models.dcgan import DCGAN
from privgan_runner.objectives.wasserstein import Wasserstein
from privgan_runner.privacy.dpgan import DPGAN, cluster_bounds, fixed_groups
from privgan_runner.regularizers.gradient_penalty import GradientPenalty

from .helpers import step_context

DPGAN_RUN = ("privacy=dpgan", "objective=wasserstein", "regularizer=gradient_penalty", "objective.n_critic=1")


def _step(n=48, public=True, conditional=False, **kw):
    torch.manual_seed(0)
    pool = Synthetic(image_size=16, n_samples=n).load()
    mech = DPGAN(**{"noise_multiplier": 1.0, **kw})
    G, D = mech.build_models(DCGAN(width=8, z_dim=8, conditional=conditional), 16, 1, 10)
    D = GradientPenalty().wrap(D)
    codes = torch.zeros(n, dtype=torch.long)
    ctx = step_context((pool.images, pool.labels, codes), batch_size=8, conditional=conditional)
    if public:
        ctx.public = (pool.images[:16], pool.labels[:16])
    return mech, mech.make_step(G, D, Wasserstein(), GradientPenalty(), ctx), D, pool


def test_per_sample_gradients_include_each_records_own_gradient_penalty():
    """vmap(grad) of one pair's WGAN loss + its penalty equals autograd's double backward, record by record."""
    mech, step, D, pool = _step()
    x, fake = pool.images[:3], torch.rand(3, 1, 16, 16) * 2 - 1
    torch.manual_seed(5)
    grads, _ = step.per_pair(x, None, None, fake, None, None)
    torch.manual_seed(5)
    alpha = torch.rand(3, 1, 1, 1)
    for i in range(3):
        D.zero_grad()
        x_hat = (alpha[i] * x[i : i + 1] + (1 - alpha[i]) * fake[i : i + 1]).requires_grad_(True)
        (slope,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
        loss = D(fake[i : i + 1]).mean() - D(x[i : i + 1]).mean() + 10.0 * (slope.flatten().norm() - 1) ** 2
        loss.backward()
        for name, p in D.named_parameters():
            torch.testing.assert_close(grads[name][i], p.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_algorithm_2_merges_the_most_similar_ratio_with_their_l2_norm():
    """Line 3: argmin max(c(G)/c(G'), c(G')/c(G)) -- a ratio, not a difference: 0.01 and 0.02 are twice apart,
    1.0 and 1.05 only 5%, although their difference is five times larger."""
    bounds = {"a": 0.01, "b": 0.02, "c": 1.0, "d": 1.05}
    assert cluster_bounds(bounds, 3) == [["a"], ["b"], ["c", "d"]]
    assert cluster_bounds(bounds, 2) == [["a", "b"], ["c", "d"]]  # 2x against 1.45 / 0.02
    assert cluster_bounds(bounds, 1) == [["a", "b", "c", "d"]]
    assert cluster_bounds({"a": 1.0, "b": 1.1, "c": 5.0, "d": 9.0}, 2) == [["a", "b"], ["c", "d"]]  # 9 / 5 < 5 / 1.49
    assert cluster_bounds({"a": 1.0, "b": 2.0}, 5) == [["a"], ["b"]]  # fewer parameters than groups asked
    names = ["f.0.weight", "f.0.bias", "f.2.weight", "head.weight", "head.bias"]
    assert fixed_groups(names, "weight_bias") == [
        ["f.0.weight", "f.2.weight", "head.weight"],
        ["f.0.bias", "head.bias"],
    ]
    assert fixed_groups(names, "by_layer") == [["f.0.weight", "f.0.bias"], ["f.2.weight"], ["head.weight", "head.bias"]]


def test_each_group_is_clipped_to_its_bound_and_the_accountant_is_charged_sigma_over_sqrt_k():
    mech, step, D, pool = _step(n_groups_clip="by_layer")
    k = mech.n_groups
    assert k == len(fixed_groups([n for n, _ in D.named_parameters()], "by_layer")) > 1
    assert mech.group_noise_multiplier == pytest.approx(1.0) and mech.noise_multiplier == pytest.approx(
        1 / math.sqrt(k)
    )
    grads, _ = step.per_pair(pool.images[:4], None, None, torch.rand(4, 1, 16, 16), None, None)
    groups, bounds, sigma = step.clipping(grads)
    assert bounds == pytest.approx([1.0 / math.sqrt(k)] * k) and sigma == 1.0  # together: max_grad_norm
    step(pool.images[:8].unsqueeze(0), pool.labels[:8].unsqueeze(0), torch.zeros(1, 8, dtype=torch.long))
    assert mech.accountant.history == [(pytest.approx(1 / math.sqrt(k)), 8 / 48, 1)]


def test_more_groups_than_parameter_tensors_charge_the_groups_formed():
    """k asked above D's parameter tensors: clustering forms one group per tensor, and the accountant is charged
    sigma / sqrt(groups formed), not sigma / sqrt(k asked) (which would overstate the noise)."""
    mech, step, D, pool = _step(n_groups_clip=1000, adaptive_clip=True)
    tensors = len([p for p in D.parameters() if p.requires_grad])
    assert mech.n_groups == tensors < 1000
    assert mech.noise_multiplier == pytest.approx(1.0 / math.sqrt(tensors))
    step(pool.images[:8].unsqueeze(0), pool.labels[:8].unsqueeze(0), torch.zeros(1, 8, dtype=torch.long))
    assert len(step.last_bounds) == tensors


def test_adaptive_bounds_come_from_public_records_only():
    """The bounds are averages over public records: changing the members leaves them unchanged, changing the
    public records changes them."""
    mech, step, D, pool = _step(adaptive_clip=True, n_groups_clip=2)
    torch.manual_seed(1)
    a = step.public_bounds()
    step.members = (torch.rand_like(step.members[0]), *step.members[1:])
    torch.manual_seed(1)
    assert step.public_bounds() == a
    step.public = (torch.rand_like(step.public[0]), step.public[1])
    torch.manual_seed(1)
    assert step.public_bounds() != a


def test_warm_start_trains_on_public_records_before_the_first_private_step():
    mech, step, D, pool = _step(warm_start_steps=2)
    before = [p.detach().clone() for p in D.parameters()]
    seen = []
    original = step.D.forward
    step.D.forward = lambda x, *a, **k: seen.append(x.shape[0]) or original(x, *a, **k)
    step.warm_start()
    assert mech.warm_started and any(not torch.equal(b, p) for b, p in zip(before, D.parameters()))
    assert mech.accountant.history == []  # no private step was charged
    assert seen  # D was trained


def test_spent_epsilon_recomputes_with_opacus_and_public_records_are_named(tiny_run):
    results, _ = tiny_run(
        *DPGAN_RUN,
        "dataset.n_samples=128",
        "dataset.public_fraction=0.2",
        "privacy.adaptive_clip=true",
        "privacy.n_groups_clip=2",
        "privacy.warm_start_steps=2",
        "privacy.epsilon=5",
    )
    p = results["privacy"]
    assert results["status"] == "completed" and p["mechanism"] == "dpgan"
    acc = create_accountant(mechanism="rdp")
    acc.history = [(p["noise_multiplier"], p["sample_rate"], p["steps"])]
    assert p["epsilon"] == pytest.approx(acc.get_epsilon(delta=p["delta"])) and 4.9 < p["epsilon"] <= 5.0
    assert p["group_noise_multiplier"] == pytest.approx(p["noise_multiplier"] * math.sqrt(p["n_groups"]))
    assert results["dataset"]["public_used"] is True and results["dataset"]["n_public"] > 0


@pytest.mark.parametrize(
    "overrides, key",
    [
        (("privacy.adaptive_clip=true",), "dataset.public_fraction"),
        (("privacy.warm_start_steps=5",), "dataset.public_fraction"),
        (("privacy.n_groups_clip=3",), "privacy.n_groups_clip"),
        (("privacy.group_bound=max",), "privacy.group_bound"),
        (("regularizer=none",), "regularizer"),
        (("objective=js",), "objective"),
        (("dataset.public_fraction=0.999",), "dataset.public_fraction"),
    ],
)
def test_bad_dpgan_settings_are_refused_before_anything_is_written(tiny_run, tmp_path, overrides, key):
    run_dir = tmp_path / "refused"
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        tiny_run(*DPGAN_RUN, "dataset.n_samples=128", *overrides, run_dir=run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["status.json"]
