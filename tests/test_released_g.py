"""What a DP mechanism releases depends on the members only through its sanitized channel: G's parameters AND
its buffers (BatchNorm's running statistics, used when sampling).

The rule every DP mechanism is held to: a forward of G that changes G's buffers happens only inside the
sanitized G step (gradients on), on inputs drawn without the members (noise, labels from the prior, a batch of
fixed size); every other forward of G -- the discriminators', classifiers' and clipping bounds' generated
records -- runs with G's statistics frozen, and no forward of G sees a batch whose size is a private count.

Shown by instrumentation: a spy records every forward of G (its inputs, whether gradients were on, whether
G's buffers changed) while the real trainer trains on two member sets of the same size that differ in every
image and label, from the same seed; the buffer-changing forwards must be the same forwards on the same inputs.

Registration: every option of conf/privacy/ whose mechanism has an accountant must be listed in DP_SETUPS
(the overrides it needs to train on the test's tiny data); a new DP mechanism fails
test_every_dp_mechanism_is_registered until it is, and then inherits the data-flow test.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pytest
import torch
from hydra.utils import get_class

from privgan_runner.pipeline import build_components, build_gan
from privgan_runner.privacy.accounted import Accounted

from .conftest import CONF, TINY, compose_config, options

WGAN_GP = ("objective=wasserstein", "regularizer=gradient_penalty", "objective.n_critic=2")

#: each DP mechanism with what it needs to train on 48 synthetic members
DP_SETUPS = {
    "dpsgd": ("objective.n_critic=2",),
    "dpgan": (
        *WGAN_GP,
        "privacy.adaptive_clip=true",
        "privacy.n_groups_clip=by_layer",
        "privacy.warm_start_steps=2",
        "privacy.public_batch_size=6",
    ),
    "gswgan": (*WGAN_GP, "privacy.n_discriminators=3", "privacy.warm_start_steps=2"),
    "dpac": (*WGAN_GP, "privacy.n_discriminators=3", "privacy.warm_start_steps=1"),
}
N_MEMBERS, N_PUBLIC, BATCH = 48, 16, 8


def accounted_options() -> list[str]:
    """The options of conf/privacy/ whose mechanism keeps an accountant (a DP guarantee)."""
    import yaml

    out = []
    for name in options("privacy"):
        target = yaml.safe_load((CONF / "privacy" / f"{name}.yaml").read_text())["_target_"]
        if issubclass(get_class(target), Accounted):
            out.append(name)
    return out


@dataclass
class Forward:
    inputs: list  # z, y, c as given (None where absent)
    grad: bool
    changed_buffers: bool


class Spy:
    """Records every forward of `module`: its inputs, whether gradients were on, whether its buffers -- the
    tensors it holds when the spy is attached, the ones training leaves in the released G -- changed."""

    def __init__(self, module: torch.nn.Module):
        self.buffers, self.calls, self.before = list(module.buffers()), [], []
        module.register_forward_pre_hook(self.pre)
        module.register_forward_hook(self.post)

    def pre(self, module, args):
        self.before = [b.detach().clone() for b in self.buffers]

    def post(self, module, args, out):
        changed = any(not torch.equal(a, b) for a, b in zip(self.before, self.buffers))
        inputs = [None if a is None else a.detach().clone() for a in args]
        self.calls.append(Forward(inputs, torch.is_grad_enabled(), changed))


def train_with_spy(mechanism: str, members: str) -> tuple[list[Forward], object]:
    """G's forwards while the real trainer trains `mechanism` for one epoch on 48 members: the pool's own
    (`original`) or the same count with every image negated and every label moved (`changed`)."""
    cfg = compose_config(
        *TINY,
        f"privacy={mechanism}",
        "model.conditional=true",
        "trainer.epochs=1",
        f"trainer.batch_size={BATCH}",
        "privacy.epsilon=50",
        *DP_SETUPS[mechanism],
    )
    parts = build_components(cfg)
    pool = parts.dataset.load()
    torch.manual_seed(0)
    G, D = build_gan(parts, pool.n_classes)
    spy = Spy(G)
    images, labels = pool.images[:N_MEMBERS], pool.labels[:N_MEMBERS]
    if members == "changed":
        images, labels = -images, (labels + 3) % pool.n_classes
    public = pool.images[N_MEMBERS : N_MEMBERS + N_PUBLIC], pool.labels[N_MEMBERS : N_MEMBERS + N_PUBLIC]
    torch.manual_seed(1)
    parts.trainer.fit(
        G,
        D,
        parts.objective,
        parts.regularizer,
        images,
        labels,
        z_dim=parts.model.z_dim,
        conditional=True,
        privacy=parts.privacy,
        codes=parts.privacy.member_codes(N_MEMBERS, 0),
        n_classes=pool.n_classes,
        public=public if parts.privacy.uses_public_data else None,
    )
    return spy.calls, parts


def check_released_g(mechanism: str) -> None:
    """The rule of this module's docstring, on two trainings that differ only in the members."""
    a, parts = train_with_spy(mechanism, "original")
    b, _ = train_with_spy(mechanism, "changed")
    learning_a = [call for call in a if call.changed_buffers]
    learning_b = [call for call in b if call.changed_buffers]
    assert learning_a, "G's buffers never changed: the test has nothing to check (does G have BatchNorm?)"
    assert len(learning_a) == len(learning_b), "G's statistics learned in more forwards for one member set"
    for x, y in zip(learning_a, learning_b):
        assert x.grad and y.grad, "G's statistics learned in a forward outside a G step"
        for u, v in zip(x.inputs, y.inputs):
            assert (u is None) == (v is None)
            assert u is None or torch.equal(u, v), "G's statistics learned from inputs that depend on the members"
        assert x.inputs[0].shape[0] == BATCH, "G's statistics learned from a batch that is not the fixed batch size"
    public_batch = getattr(parts.privacy, "public_batch_size", BATCH)
    sizes = {call.inputs[0].shape[0] for call in a + b}
    assert sizes <= {BATCH, public_batch}, f"G saw batches of sizes {sorted(sizes)}: a private count reached G"
    assert any(not call.changed_buffers for call in a), "no frozen forward: the mechanism's other uses of G are gone"
    assert "add/remove" in parts.privacy.describe()["neighbouring"]  # every DP epsilon states its relation


def test_every_dp_mechanism_is_registered():
    assert set(accounted_options()) == set(DP_SETUPS)


@pytest.mark.parametrize("mechanism", sorted(DP_SETUPS))
def test_released_g_learns_only_in_its_sanitized_step(mechanism):
    check_released_g(mechanism)


@pytest.mark.parametrize("mechanism", ["gswgan", "dpsgd"])
def test_the_spy_catches_a_train_mode_forward_outside_the_sanitized_step(mechanism, monkeypatch):
    """With G's statistics no longer frozen (the code before this test existed), the check fails: GS-WGAN's
    discriminators feed G the members' labels, DP-SGD's D steps feed it the Poisson count's batches."""
    import privgan_runner.privacy.dp_step as dp_step
    import privgan_runner.privacy.gswgan as gswgan

    for module in (dp_step, gswgan):
        monkeypatch.setattr(module, "frozen_statistics", lambda G: contextlib.nullcontext())
    with pytest.raises(AssertionError, match="G's statistics learned"):
        check_released_g(mechanism)


@pytest.mark.parametrize("mechanism", ["dpsgd", "dpgan"])
def test_a_released_discriminator_keeps_no_running_statistics(mechanism):
    """DP-SGD and dp-GAN release D too: its buffers must not average the members (BatchNorm becomes GroupNorm)."""
    cfg = compose_config(*TINY, f"privacy={mechanism}", *DP_SETUPS[mechanism])
    parts = build_components(cfg)
    _, D = build_gan(parts, 10)
    names = [name for name, _ in D.named_buffers()]
    assert not [n for n in names if "running" in n or "num_batches" in n], names
