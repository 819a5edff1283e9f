"""DCGAN shapes, conditioning, objectives and regularizers behave as their papers define them."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from privgan_runner.errors import ConfigError
from privgan_runner.models.dcgan import DCGAN, layout
from privgan_runner.objectives.js import JS
from privgan_runner.objectives.wasserstein import Wasserstein
from privgan_runner.regularizers.gradient_penalty import GradientPenalty
from privgan_runner.regularizers.orthonormal import Orthonormal
from privgan_runner.regularizers.spectral_norm import SpectralNorm
from privgan_runner.regularizers.weight_clip import WeightClip


@pytest.mark.parametrize("size,channels", [(8, 1), (16, 1), (28, 1), (32, 3), (64, 3)])
@pytest.mark.parametrize("conditional", [False, True])
def test_dcgan_shapes(size, channels, conditional):
    G, D = DCGAN(width=8, z_dim=10, conditional=conditional).build(size, channels, n_classes=10)
    y = torch.arange(4) if conditional else None
    x = G(torch.randn(4, 10), y)
    assert x.shape == (4, channels, size, size) and x.abs().max() <= 1
    assert D(x, y).shape == (4,)


def test_conditional_generator_uses_the_label():
    torch.manual_seed(0)
    G, _ = DCGAN(width=8, z_dim=10, conditional=True).build(16, 1, n_classes=10)
    G.eval()
    z = torch.randn(1, 10).repeat(2, 1)
    out = G(z, torch.tensor([0, 1]))
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize("size", [7, 50, 96 + 1])
def test_unbuildable_sizes_are_refused(size):
    with pytest.raises(ConfigError, match="image_size"):
        layout(size)


def test_width_knob_scales_parameters():
    small = sum(p.numel() for p in DCGAN(width=8).build(16, 1, 0)[1].parameters())
    large = sum(p.numel() for p in DCGAN(width=32).build(16, 1, 0)[1].parameters())
    assert large > 8 * small


def test_js_losses_match_their_definitions():
    real, fake = torch.randn(16), torch.randn(16)
    js = JS()
    expected_d = -(torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean())
    assert js.d_loss(real, fake) == pytest.approx(float(expected_d), rel=1e-5)
    assert js.g_loss(fake) == pytest.approx(float(-torch.log(torch.sigmoid(fake)).mean()), rel=1e-5)
    assert torch.allclose(js.score(real), torch.sigmoid(real.double()))
    # ranked on the logit: the order of d(x) without its saturation (float32 d(x) is exactly 1 from logit 17 on)
    memorized = torch.tensor([17.0, 20.0, 40.0])
    assert torch.sigmoid(memorized).unique().numel() == 1 and js.rank(memorized).unique().numel() == 3
    assert js.rank_of_score(float(js.score(torch.tensor(2.5)))) == pytest.approx(2.5)
    smoothed = JS(real_label=0.9).real_record_loss(real)
    assert torch.allclose(
        smoothed, F.binary_cross_entropy_with_logits(real, torch.full_like(real, 0.9), reduction="none")
    )


def test_wasserstein_losses():
    real, fake = torch.randn(16), torch.randn(16)
    w = Wasserstein()
    assert w.d_loss(real, fake) == pytest.approx(float(fake.mean() - real.mean()))
    assert w.g_loss(fake) == pytest.approx(float(-fake.mean()))
    assert torch.equal(w.score(real), real)


def test_weight_clip_clamps_every_parameter():
    _, D = DCGAN(width=8).build(16, 1, 0)
    with torch.no_grad():
        for p in D.parameters():
            p.mul_(100)
    WeightClip(-0.01, 0.01).after_d_step(D)
    assert all(p.abs().max() <= 0.01 + 1e-9 for p in D.parameters())


def test_spectral_norm_bounds_every_layer():
    torch.manual_seed(0)
    _, D = DCGAN(width=8, d_norm="none").build(16, 1, 0)
    D = SpectralNorm(n_power_iterations=1).wrap(D)
    D.train()
    for _ in range(50):  # power iterations converge during forward passes
        D(torch.randn(4, 1, 16, 16))
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 3
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("reg,kind", [(SpectralNorm(), nn.Identity), (GradientPenalty(), nn.GroupNorm)])
def test_lipschitz_regularizers_take_batchnorm_out_of_d(reg, kind):
    _, D = DCGAN(width=8).build(32, 1, 0)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    D = reg.wrap(D)
    assert n_bn == 2 and not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert D(torch.randn(2, 1, 32, 32)).shape == (2,)
    if kind is nn.GroupNorm:
        assert sum(isinstance(m, nn.GroupNorm) for m in D.modules()) == n_bn


def test_gradient_penalty_on_a_linear_critic():
    w = torch.tensor([3.0, 4.0])  # ||grad|| = 5 everywhere -> penalty = weight * (5 - 1)^2
    critic = lambda x: x.flatten(1) @ w  # noqa: E731
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    assert float(GradientPenalty(weight=10).penalty(None, critic, real, fake).detach()) == pytest.approx(160.0)


def test_orthonormal_penalty_forms():
    """full (Brock et al. 2017, the default): beta ||W W^T - I||^2; off_diagonal (BigGAN): the norms are free."""
    D = nn.Sequential(nn.Linear(4, 4, bias=False))
    full, off_diagonal = Orthonormal(beta=1.0), Orthonormal(beta=1.0, form="off_diagonal")
    assert full.form == "full"
    with torch.no_grad():
        D[0].weight.copy_(torch.linalg.qr(torch.randn(4, 4))[0])  # orthonormal rows
    for reg in (full, off_diagonal):
        assert float(reg.penalty(D, None, torch.zeros(1), None).detach()) == pytest.approx(0.0, abs=1e-4)
    with torch.no_grad():
        D[0].weight.mul_(3)  # orthogonal rows of norm 3: W W^T = 9 I
    assert float(off_diagonal.penalty(D, None, torch.zeros(1), None).detach()) == pytest.approx(0.0, abs=1e-3)
    assert float(full.penalty(D, None, torch.zeros(1), None).detach()) == pytest.approx(4 * 8.0**2, rel=1e-4)
    with torch.no_grad():
        D[0].weight.fill_(1.0)  # W W^T = 4 everywhere
    assert float(off_diagonal.penalty(D, None, torch.zeros(1), None).detach()) == pytest.approx(12 * 16.0)
    assert float(full.penalty(D, None, torch.zeros(1), None).detach()) == pytest.approx(12 * 16.0 + 4 * 9.0)
    with pytest.raises(ConfigError, match="form"):
        Orthonormal(form="biggan2")
