"""The trainer: step counts, n_critic, no D gradients from the G step, divergence detection."""

from __future__ import annotations

import pytest
import torch

from privgan_runner.data.synthetic import Synthetic
from privgan_runner.models.dcgan import DCGAN
from privgan_runner.objectives.js import JS
from privgan_runner.privacy.none import NoPrivacy
from privgan_runner.regularizers.none import NoRegularizer
from privgan_runner.training.step import AdversarialStep
from privgan_runner.training.trainer import Trainer


def _setup(n=40):
    torch.manual_seed(0)
    pool = Synthetic(image_size=16, n_samples=n).load()
    G, D = DCGAN(width=8, z_dim=8).build(16, 1, 10)
    return pool, G, D


@pytest.mark.parametrize("n_critic", [1, 2])
def test_steps_per_epoch_counts_full_batches_only(n_critic):
    pool, G, D = _setup(n=40)
    trainer = Trainer(epochs=3, batch_size=8, n_critic=n_critic, progress=False, log_every=2, device="cpu")
    result = trainer.fit(
        G, D, JS(), NoRegularizer(), pool.images, pool.labels, z_dim=8, conditional=False, privacy=NoPrivacy()
    )
    assert result.status == "completed"
    assert result.steps == 3 * ((40 // 8) // n_critic) and result.epochs == 3
    assert result.history[-1]["step"] == result.steps


def test_discriminator_gets_gradients_only_from_its_own_steps():
    pool, G, D = _setup()
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    step = AdversarialStep(G, D, opt_g, opt_d, JS(), NoRegularizer(), z_dim=8, conditional=False)
    calls = []
    for p in D.parameters():
        p.register_hook(lambda g: calls.append(1))
    n_params = len(list(D.parameters()))
    out = step(pool.images[:16].view(2, 8, 1, 16, 16), pool.labels[:16].view(2, 8), torch.zeros(2, 8, dtype=torch.long))
    assert len(calls) == 2 * n_params  # two D backward passes; the G step adds none
    assert out.shape == (3,) and not out.requires_grad
    assert all(p.requires_grad for p in D.parameters())


def test_first_divergent_step_is_found():
    from privgan_runner.training.loss_window import LossWindow

    rows = torch.tensor([[0.5, 0.7, 0.0], [0.5, float("nan"), 0.0], [1e9, 0.1, 0.0]])

    def window_of(*losses):
        history = []
        window = LossWindow(4, AdversarialStep.loss_names, "cpu", 100.0, history)
        for row in losses:
            window.add(row)
        return window, history

    window, history = window_of(*rows)
    assert window.flush(done=13, epoch=2) is None and not history  # steps 11, 12, 13: the 12th is NaN
    assert window.collapse == (12, "non-finite g_loss (nan) at step 12 (epoch 3)")
    window, _ = window_of(rows[0], rows[2])
    assert window.flush(done=2, epoch=0) is None and window.collapse[0] == 2 and "beyond" in window.collapse[1]
    window, history = window_of(rows[0], rows[0])
    assert window.flush(done=2, epoch=0) == {"d_loss": 0.5, "g_loss": pytest.approx(0.7), "penalty": 0.0}
    assert history == [{"step": 2, "d_loss": 0.5, "g_loss": pytest.approx(0.7), "penalty": 0.0}]
    assert window.pending == 0 and window.collapse is None


def test_nan_training_is_collapsed_at_the_exact_step():
    pool, G, D = _setup()
    calls = {"n": 0}

    class PoisonAfter(NoRegularizer):
        def penalty(self, D, critic, real, fake):
            calls["n"] += 1
            return real.new_tensor(float("nan") if calls["n"] == 7 else 0.0)

    trainer = Trainer(epochs=5, batch_size=8, progress=False, log_every=4, device="cpu")
    result = trainer.fit(
        G, D, JS(), PoisonAfter(), pool.images, pool.labels, z_dim=8, conditional=False, privacy=NoPrivacy()
    )
    assert result.status == "collapsed"
    assert result.steps == 7 and "at step 7" in result.message


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_captured_step_matches_eager_on_gpu():
    from privgan_runner.regularizers.spectral_norm import SpectralNorm

    results = {}
    for graph in (False, True):
        pool, G, D = _setup()
        D = SpectralNorm().wrap(D)
        trainer = Trainer(epochs=20, batch_size=8, progress=False, log_every=5, device="cuda", cuda_graph=graph)
        results[graph] = trainer.fit(
            G, D, JS(), NoRegularizer(), pool.images, pool.labels, z_dim=8, conditional=False, privacy=NoPrivacy()
        )
    assert results[True].status == "completed" and results[True].steps == results[False].steps
    for k in ("d_loss", "g_loss"):  # same model, same data; noise streams differ, losses stay in range
        assert abs(results[True].final[k] - results[False].final[k]) < 1.0


def test_capture_waits_for_warmup_steps_made_in_this_process():
    """A resumed job (a new process, a new StepRunner) runs its eager warm-up again before capturing."""
    from privgan_runner.training.capture import StepRunner

    calls, captured_after = [], []

    def eager(*batch):
        calls.append("eager")
        return torch.zeros(3)

    def capture(step, *batch):
        captured_after.append(calls.count("eager"))
        return lambda *b: calls.append("graph") or torch.ones(3)

    first = StepRunner(eager, warmup_steps=3, capture=capture)
    for _ in range(5):
        first(None, None, None)
    assert calls == ["eager"] * 3 + ["graph"] * 2 and captured_after == [3] and first.captured
    calls.clear()
    resumed = StepRunner(eager, warmup_steps=3, capture=capture)  # the job after a requeue
    out = [resumed(None, None, None) for _ in range(4)]
    assert calls == ["eager"] * 3 + ["graph"] and captured_after == [3, 3]
    assert [float(o.sum()) for o in out] == [0, 0, 0, 3]
    plain = StepRunner(eager, warmup_steps=3)  # no capture asked: always eager
    for _ in range(4):
        plain(None, None, None)
    assert not plain.captured


def test_tf32_is_scoped_to_training_and_recorded():
    from privgan_runner.training.precision import tf32_scope

    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        with tf32_scope(True):
            assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        pool, G, D = _setup()
        result = Trainer(epochs=1, batch_size=8, progress=False, device="cpu").fit(
            G, D, JS(), NoRegularizer(), pool.images, pool.labels, z_dim=8, conditional=False, privacy=NoPrivacy()
        )
        assert result.summary()["tf32"] is False and result.summary()["cuda_graph"] is False
        assert not torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_precision_key_is_checked():
    from privgan_runner.errors import ConfigError

    with pytest.raises(ConfigError, match="precision"):
        Trainer(precision="fp16")


@pytest.mark.parametrize(
    "precision,computed,dtype",
    [("fp32", "fp32", torch.float32), ("tf32", "fp32", torch.float32), ("bf16", "bf16", torch.bfloat16)],
)
def test_precision_sets_what_the_step_computes_in(precision, computed, dtype):
    """bf16 runs G's and D's convolutions in bfloat16 (on a CPU too) while the parameters stay float32;
    tf32 has no CPU form and is recorded as fp32 there."""
    pool, G, D = _setup()
    seen = []
    conv = next(m for m in D.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda m, inp, out: seen.append(out.dtype))
    result = Trainer(epochs=1, batch_size=8, progress=False, device="cpu", precision=precision).fit(
        G, D, JS(), NoRegularizer(), pool.images, pool.labels, z_dim=8, conditional=False, privacy=NoPrivacy()
    )
    assert result.status == "completed" and set(seen) == {dtype}
    assert result.summary()["precision"] == computed and result.summary()["tf32"] is False
    assert all(p.dtype == torch.float32 for p in [*G.parameters(), *D.parameters()])
