"""The fast DP-SGD path (torch.func per-sample gradients) makes Opacus' update, and is accounted like it."""

from __future__ import annotations

import pytest
import torch
from opacus.accountants import create_accountant

from privgan_runner.data.synthetic import Synthetic
from privgan_runner.models.dcgan import DCGAN
from privgan_runner.objectives.js import JS
from privgan_runner.objectives.wasserstein import Wasserstein
from privgan_runner.privacy.dpsgd import DPSGD
from privgan_runner.privacy.per_sample import accounted_noise_multiplier, group_norms, sanitize
from privgan_runner.regularizers.none import NoRegularizer
from privgan_runner.training.trainer import Trainer

NM = 0.7


def _d_after_one_update(grad_sample: str, objective, conditional: bool, max_grad_norm: float, noise_seed: int = 11):
    """D's parameters after one DP update with SGD(lr=1) (so the change is the noised clipped gradient)."""
    torch.manual_seed(0)
    n, batch_size = 40, 10
    pool = Synthetic(image_size=16, n_samples=n).load()
    mech = DPSGD(noise_multiplier=NM, max_grad_norm=max_grad_norm, grad_sample=grad_sample.split("-")[0])
    G, D = mech.build_models(DCGAN(width=8, z_dim=8, conditional=conditional), 16, 1, 10)
    codes = torch.zeros(n, dtype=torch.long)
    trainer = Trainer(batch_size=batch_size, device="cpu", progress=False)
    ctx = trainer.step_context(torch.device("cpu"), 8, conditional, 10, (pool.images, pool.labels, codes), 5)
    ctx.make_optimizer = lambda params, capturable=True: torch.optim.SGD(params, lr=1.0)
    step = mech.make_step(G, D, objective, NoRegularizer(), ctx)
    if grad_sample == "fast-vmap":  # the path for a D with layers ghost clipping does not know
        step.layerwise = False
    gen = torch.Generator().manual_seed(3)
    x = pool.images[:7]  # a Poisson-sized batch, not the expected size
    y = pool.labels[:7] if conditional else None
    fake = torch.rand(7, 1, 16, 16, generator=gen) * 2 - 1
    y_fake = torch.randint(0, 10, (7,), generator=gen) if conditional else None
    before = {k: v.detach().clone() for k, v in D.named_parameters()}
    torch.manual_seed(noise_seed)  # the noise draws
    step.d_update(x, y, None, fake, y_fake, None)
    return {k: before[k] - v.detach() for k, v in D.named_parameters()}, mech


@pytest.mark.parametrize("objective", [JS(), Wasserstein()], ids=["js", "wgan"])
@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "conditional"])
@pytest.mark.parametrize("max_grad_norm", [1e-3, 10.0], ids=["every-record-clipped", "none-clipped"])
@pytest.mark.parametrize("path", ["fast", "fast-vmap"], ids=["ghost", "vmap"])
def test_fast_update_equals_opacus_on_the_same_batch_and_noise(objective, conditional, max_grad_norm, path):
    reference, ref_mech = _d_after_one_update("opacus", objective, conditional, max_grad_norm)
    fast, fast_mech = _d_after_one_update(path, objective, conditional, max_grad_norm)
    assert reference.keys() == fast.keys()
    for name in reference:
        torch.testing.assert_close(fast[name], reference[name], atol=1e-6, rtol=1e-5, msg=name)
    assert ref_mech.accountant.history == fast_mech.accountant.history == [(0.7, 10 / 40, 1)]


def test_fast_update_differs_when_the_noise_differs():
    """The equality above is not vacuous: another noise draw moves D differently."""
    a, _ = _d_after_one_update("fast", JS(), False, 1.0)
    b, _ = _d_after_one_update("opacus", JS(), False, 1.0, noise_seed=12)
    assert any(not torch.allclose(a[k], b[k]) for k in a)


def test_group_clipping_bounds_each_group_and_noise_scales_with_its_bound():
    grads = {"w": torch.randn(5, 3, 4) * 10, "b": torch.randn(5, 3) * 10}
    out = sanitize(grads, ["w", "b"], [["w"], ["b"]], [0.5, 2.0], 0.0, 1)
    clipped = {k: v for k, v in out.items()}
    norms = group_norms({k: v.unsqueeze(0) for k, v in clipped.items()}, [["w"], ["b"]])[0]
    assert norms[0] <= 5 * 0.5 + 1e-5 and norms[1] <= 5 * 2.0 + 1e-5
    torch.manual_seed(0)
    noise_only = sanitize(
        {k: torch.zeros_like(v) for k, v in grads.items()}, ["w", "b"], [["w"], ["b"]], [0.5, 2.0], 1.0, 1
    )
    assert noise_only["w"].std() < noise_only["b"].std() / 2
    assert accounted_noise_multiplier(2.0, 4) == pytest.approx(1.0)


def test_fast_path_results_recompute_with_opacus(tiny_run):
    results, _ = tiny_run("privacy=dpsgd", "privacy.grad_sample=fast", "privacy.epsilon=5", "trainer.epochs=2")
    p = results["privacy"]
    assert p["grad_sample"] == "fast" and p["steps"] == p["planned_steps"]
    acc = create_accountant(mechanism="rdp")
    acc.history = [(p["noise_multiplier"], p["sample_rate"], p["steps"])]
    assert p["epsilon"] == pytest.approx(acc.get_epsilon(delta=p["delta"]))
    assert results["status"] == "completed"


def _loop_gradients(D, x, fake):
    out = []
    for i in range(x.shape[0]):
        D.zero_grad()
        JS().d_loss(D(x[i : i + 1]), D(fake[i : i + 1])).backward()
        out.append({k: p.grad.clone() for k, p in D.named_parameters()})
    return {k: torch.stack([o[k] for o in out]) for k in out[0]}


def _opacus_vs_loop(layout):
    """(Opacus' per-sample gradients of the Opacus path's D update, a loop's) for a batch in this layout."""
    from opacus import GradSampleModule

    from privgan_runner.privacy.dp_step import nchw

    torch.manual_seed(0)
    _, D = DPSGD(noise_multiplier=1e-12).build_models(DCGAN(width=8, z_dim=8), 16, 1, 10)
    x, fake = torch.rand(4, 1, 16, 16) * 2 - 1, torch.rand(4, 1, 16, 16) * 2 - 1
    if layout == "channel-stride-1":  # a 1-channel tensor is 'contiguous' with either stride: Synthetic's images
        x = torch.empty_strided(x.shape, (256, 1, 16, 1)).copy_(x)
    elif layout == "channels_last":  # trainer.channels_last: D's weights too
        D = D.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    expected = _loop_gradients(D, x, fake)
    wrapped = GradSampleModule(D, loss_reduction="mean", strict=True)  # d_loss is a mean
    JS().d_loss(wrapped(nchw(x)), wrapped(nchw(fake))).backward()
    return {name: p.grad_sample for name, p in D.named_parameters()}, expected


@pytest.mark.parametrize("layout", ["nchw", "channel-stride-1"])
def test_opacus_path_per_sample_gradients_match_a_loop_whatever_the_batch_layout(layout):
    """Opacus' conv grad sampler assumes NCHW strides; the Opacus path hands it NCHW batches (nchw)."""
    opacus, expected = _opacus_vs_loop(layout)
    for name in expected:
        torch.testing.assert_close(opacus[name], expected[name], atol=1e-5, rtol=1e-4, msg=name)


def test_opacus_per_sample_gradients_are_wrong_with_channels_last_weights():
    """Why trainer.channels_last is refused with grad_sample=opacus (if Opacus fixes this, lift the refusal)."""
    opacus, expected = _opacus_vs_loop("channels_last")
    assert not all(torch.allclose(opacus[k], expected[k], atol=1e-4) for k in expected)


def test_channels_last_with_opacus_is_refused(tiny_run):
    from privgan_runner.errors import ConfigError

    with pytest.raises(ConfigError, match="trainer.channels_last"):
        tiny_run("privacy=dpsgd", "trainer.channels_last=true")


def test_fast_per_sample_gradients_through_spectral_norm_match_a_loop():
    """grad_sample=fast accepts spectral_norm (Opacus' path refuses it): its per-sample gradients are those of
    the parametrization's own parameters (`...parametrizations.weight.original`), record by record. Eval mode
    holds the power iteration's vectors fixed, as they are within one step; they are computed from the
    weights alone, never from the records."""
    from privgan_runner.privacy.per_sample import per_sample_gradients
    from privgan_runner.regularizers.spectral_norm import SpectralNorm

    torch.manual_seed(0)
    _, D = DPSGD(noise_multiplier=1e-12).build_models(DCGAN(width=8, z_dim=8), 16, 1, 10)
    D = SpectralNorm().wrap(D).eval()
    x, fake = torch.rand(4, 1, 16, 16) * 2 - 1, torch.rand(4, 1, 16, 16) * 2 - 1
    expected = _loop_gradients(D, x, fake)
    assert any(name.endswith("parametrizations.weight.original") for name in expected)

    def loss_of_one(call, real, generated):
        return JS().d_loss(call(real[None]), call(generated[None]))

    grads, _ = per_sample_gradients(D, loss_of_one, (x, fake))
    for name in expected:
        torch.testing.assert_close(grads[name], expected[name], atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize(
    "kernel, stride, padding, size",
    [
        (4, 2, 1, 8),  # DCGAN's
        (4, 2, 1, 7),  # an odd input: the last row no window reaches
        (4, 2, 0, 9),
        (3, 1, 1, 6),  # stride 1: blocks are pixels
        (2, 2, 0, 8),
        (6, 3, 2, 11),
        (4, 2, 3, 5),  # padding wider than a block
        ((4, 2), (2, 1), (1, 0), (7, 9)),  # rectangular
    ],
)
def test_window_gram_from_blocks_equals_the_gram_of_the_unfolded_windows(kernel, stride, padding, size):
    """Ghost clipping's position Gram of a convolution, from its input cut into stride x stride blocks (no im2col),
    equals the Gram of the unfolded windows of both rows (real, generated) of each record."""
    import torch.nn.functional as F

    from privgan_runner.privacy.per_sample import _side_by_side, _superpixels, _window_gram

    size = (size, size) if isinstance(size, int) else size
    m = torch.nn.Conv2d(3, 5, kernel, stride, padding)
    a = torch.randn(2 * 4, 3, *size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x, out_hw, q_hw = _superpixels(m, a, 2)
    cols = _side_by_side(F.unfold(a, m.kernel_size, padding=m.padding, stride=m.stride), 2)  # [4, P, 2L]
    assert cols.shape[2] == 2 * out_hw[0] * out_hw[1]
    expected = torch.bmm(cols.transpose(1, 2), cols)
    torch.testing.assert_close(_window_gram(x, x, m, out_hw, q_hw), expected)
    rows = x.view(4, x.shape[1], 2, -1).unbind(2)  # one row's blocks against another's
    length = out_hw[0] * out_hw[1]
    torch.testing.assert_close(_window_gram(rows[0], rows[1], m, out_hw, q_hw), expected[:, :length, length:])


@pytest.mark.parametrize("size", [8, 16], ids=["one-gram", "gram-per-row-pair"])
def test_block_gram_norms_equal_the_norms_of_per_record_gradients(size):
    """Both ways of summing the Gram (one over a record's rows; one per pair of rows, 64 blocks or more) give each
    record's squared gradient norm, the gradient being its two rows' summed."""
    from privgan_runner.privacy.per_sample import _block_gram_norms, _superpixels

    m = torch.nn.Conv2d(3, 4, 4, 2, 1, bias=False).double()
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(2 * 3, 3, size, size, generator=gen, dtype=torch.float64)
    d = torch.randn(2 * 3, 4, size // 2, size // 2, generator=gen, dtype=torch.float64)
    blocks = _superpixels(m, a, 2)
    assert (blocks[2][0] * blocks[2][1] >= 64) == (size == 16)
    expected = []
    for i in range(3):
        weight = sum(torch.nn.grad.conv2d_weight(a[[j * 3 + i]], m.weight.shape, d[[j * 3 + i]], 2, 1) for j in (0, 1))
        expected.append(weight.pow(2).sum())
    torch.testing.assert_close(_block_gram_norms(blocks, m, d.flatten(2), 2), torch.stack(expected))


def test_a_kernel_not_a_whole_number_of_strides_is_unfolded_instead():
    from privgan_runner.privacy.per_sample import _superpixels, layerwise_supported

    assert _superpixels(torch.nn.Conv2d(3, 5, 3, 2, 1), torch.randn(2, 3, 8, 8), 1) is None
    assert _superpixels(torch.nn.Conv2d(3, 5, 4, 2, 1, dilation=2), torch.randn(2, 3, 8, 8), 1) is None
    assert _superpixels(torch.nn.Conv2d(3, 5, 4, 2, 1, padding_mode="reflect"), torch.randn(2, 3, 8, 8), 1) is None
    # nor does ghost clipping take such a layer: its norms would be a zero-padded layer's (vmap(grad) runs instead)
    assert layerwise_supported(torch.nn.Sequential(torch.nn.Conv2d(3, 5, 4, 2, 1)))
    assert not layerwise_supported(torch.nn.Sequential(torch.nn.Conv2d(3, 5, 4, 2, 1, padding_mode="reflect")))
    assert not layerwise_supported(torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3, 1, padding="same")))


@pytest.mark.parametrize(
    "kernel, stride, padding, dilation, size",
    [(4, 2, 1, 1, 16), (4, 2, 1, 1, 7), (3, 1, 0, 2, 9), ((4, 3), (2, 1), (2, 0), (1, 2), (8, 11)), (1, 1, 0, 1, 4)],
)
def test_the_windows_view_equals_unfold(kernel, stride, padding, dilation, size):
    import torch.nn.functional as F

    from privgan_runner.privacy.per_sample import _windows

    size = (size, size) if isinstance(size, int) else size
    m = torch.nn.Conv2d(3, 5, kernel, stride, padding, dilation)
    a = torch.randn(6, 3, *size, generator=torch.Generator().manual_seed(0))
    expected = F.unfold(a, m.kernel_size, dilation=m.dilation, padding=m.padding, stride=m.stride)
    assert torch.equal(_windows(m, a), expected)


def test_ghost_clipping_equals_clipped_per_record_gradients_on_every_convolution_path(monkeypatch):
    """A D whose convolutions take each way to a record's norm: the per-record gradient (1 input channel, many
    positions), blocks (4x4, stride 2) and the unfolded windows' Gram (3x3, stride 2: not a whole number of strides);
    the clipped sum equals that of torch.func's per-record gradients, for pairs of rows as the DP step feeds it."""
    from privgan_runner.privacy import per_sample

    taken = []
    for path in ("_per_record_norms", "_block_gram_norms", "_windows"):
        original = getattr(per_sample, path)
        monkeypatch.setattr(per_sample, path, lambda *a, _f=original, _p=path: taken.append(_p) or _f(*a))
    torch.manual_seed(0)
    D = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, 1, 1),  # 2 x 64 positions against 9 x 4 weights: the per-record gradient
        torch.nn.LeakyReLU(0.2),
        torch.nn.Conv2d(4, 32, 4, 2, 1),  # 2 x 16 positions against 64 x 32: blocks
        torch.nn.LeakyReLU(0.2),
        torch.nn.Conv2d(32, 32, 3, 2, 1, bias=False),  # 2 x 4 positions against 288 x 32, 3x3 stride 2: windows
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 2 * 2, 1),
    ).double()
    assert per_sample.layerwise_supported(D)
    gen = torch.Generator().manual_seed(1)
    x, fake = (torch.randn(5, 1, 8, 8, generator=gen, dtype=torch.float64) for _ in range(2))

    def summed_loss():
        out = D(torch.cat([x, fake]))
        return (torch.nn.functional.softplus(-out[:5]) + torch.nn.functional.softplus(out[5:])).sum()

    def loss_of_one(call, xi, fi):
        return (torch.nn.functional.softplus(-call(xi[None])) + torch.nn.functional.softplus(call(fi[None]))).sum()

    order = [name for name, _ in D.named_parameters()]
    grads, _ = per_sample.per_sample_gradients(D, loss_of_one, (x, fake))
    for bound in (1e-3, 1e3):  # every record clipped; none
        taken.clear()
        ghost = per_sample.layerwise_clipped_sum(D, summed_loss, bound, rows_per_record=2)
        assert sorted(taken) == ["_block_gram_norms", "_per_record_norms", "_windows", "_windows"]
        expected = per_sample.clipped_sum(grads, order, [order], [bound])
        for name in order:
            torch.testing.assert_close(ghost[name], expected[name], msg=name)
