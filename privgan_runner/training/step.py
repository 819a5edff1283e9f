"""One training step: n_critic discriminator updates, then one generator update.

Written so the whole step can be captured as one CUDA graph: inputs have static shapes (full
batches only), noise and generated membership codes are drawn inside the step from the default
generator, regularizers act in place, and nothing reads a value back to the host. The step
returns its losses as one device tensor (named by `loss_names`); the loop reads them back every
few steps.

Privacy mechanisms extend the step through hooks: `d_batches` and `d_update` (DP-SGD draws its
own Poisson batches and privatizes the update), `fake_labels` and `g_batch` (DP-SGD makes everything
that leaves D's private update independent of the members), `after_d` (PIGAN trains its classifier Q
there) and `g_loss` (PIGAN adds its privacy term).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..objectives.base import Objective
from ..regularizers.base import Regularizer


@contextmanager
def frozen_statistics(module: nn.Module) -> Iterator[None]:
    """`module`'s buffers (BatchNorm's running statistics) are left as they were before the block: a forward
    in train mode inside it still normalizes by its own batch, but leaves no trace in the module.

    A DP mechanism releases G with its buffers; G's running statistics may only learn from forwards whose
    inputs are drawn without the members (the sanitized G step), so every other forward of G runs inside this."""
    # the block's forwards update copies: the buffers themselves are never written (a graph of the G step may
    # hold them, and an in-place restore would invalidate its backward)
    saved = [(owner, name, buffer) for owner in module.modules() for name, buffer in owner._buffers.items()]
    for owner, name, buffer in saved:
        if buffer is not None:
            setattr(owner, name, buffer.clone())
    try:
        yield
    finally:
        for owner, name, buffer in saved:
            setattr(owner, name, buffer)


def full_steps_per_epoch(n_members: int, batch_size: int, n_critic: int) -> int:
    """G steps per epoch: each consumes n_critic full member batches (the last partial one is dropped)."""
    return (n_members // batch_size) // n_critic


@dataclass
class StepContext:
    """What a privacy mechanism's `make_step` may use of the training set-up (never the trainer itself)."""

    device: torch.device
    batch_size: int
    n_critic: int
    steps: int  # planned G steps of the whole run
    z_dim: int
    conditional: bool
    n_classes: int
    members: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # images, labels, membership codes (on device)
    make_optimizer: Callable[..., torch.optim.Optimizer]  # (params, capturable=True) -> the trainer's Adam
    #: the training set's size as the DP parameters read it (sample rate, steps): fixed before the audit's
    #: canary coins are drawn, so it never depends on which canaries are in (None: the members' count)
    n_nominal: float | None = None
    #: the public records (images, labels) on device, for a mechanism that declares it uses them; else None
    public: tuple[torch.Tensor, torch.Tensor] | None = None


class AdversarialStep:
    loss_names: tuple[str, ...] = ("d_loss", "g_loss", "penalty")

    #: the G step reuses the last D step's generated batch (one G forward per step, as in the DCGAN
    #: reference); a mechanism whose D batches depend on the members draws a fresh one instead
    reuses_last_fake: bool = True

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        objective: Objective,
        regularizer: Regularizer,
        z_dim: int,
        conditional: bool,
        n_codes: int = 0,
        n_classes: int = 0,
    ):
        self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d
        self.objective, self.regularizer = objective, regularizer
        self.z_dim, self.conditional, self.n_codes, self.n_classes = z_dim, conditional, n_codes, n_classes

    @classmethod
    def for_context(
        cls, ctx: StepContext, G, D, objective, regularizer, n_codes: int = 0, *, opt_g=None, opt_d=None, **kwargs
    ):
        """This step for a mechanism's context: the trainer's optimizers unless given, then `kwargs`."""
        opt_g = opt_g if opt_g is not None else ctx.make_optimizer(G.parameters())
        opt_d = opt_d if opt_d is not None else ctx.make_optimizer(D.parameters())
        return cls(
            G, D, opt_g, opt_d, objective, regularizer, ctx.z_dim, ctx.conditional, n_codes, ctx.n_classes, **kwargs
        )

    def optimizers(self) -> dict:
        """The step's optimizers by name (checkpointed for resume)."""
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def state_dict(self) -> dict:
        return {name: opt.state_dict() for name, opt in self.optimizers().items()}

    def load_state_dict(self, state: dict) -> None:
        for name, opt in self.optimizers().items():
            opt.load_state_dict(state[name])

    def noise(self, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape[0], self.z_dim, device=like.device, dtype=like.dtype)

    def fake_codes(self, like: torch.Tensor) -> torch.Tensor | None:
        """Membership codes for generated records: uniform over the codes (None without codes)."""
        if not self.n_codes:
            return None
        return torch.randint(0, self.n_codes, (like.shape[0],), device=like.device)

    def fake_labels(self, like: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor | None:
        """Class labels for generated records: the real batch's own (a conditional GAN's usual pairing)."""
        return y

    def d_update(self, x: torch.Tensor, y, c, fake: torch.Tensor, y_fake, c_fake):
        """One D update; returns (d_loss, penalty or None)."""
        D = self.D
        d_loss = self.objective.d_loss(D(x, y, c), D(fake, y_fake, c_fake))
        penalty = self.regularizer.penalty(D, lambda inp, y=y, c=c: D(inp, y, c), x, fake)
        total = d_loss if penalty is None else d_loss + penalty
        self.opt_d.zero_grad(set_to_none=True)
        total.backward()
        self.opt_d.step()
        self.regularizer.after_d_step(D)
        return d_loss, penalty

    def after_d(self, fake: torch.Tensor, y, c_fake) -> list[torch.Tensor]:
        """Extra updates on the last D step's generated batch; returns extra losses (see loss_names)."""
        return []

    def g_loss(self, fake: torch.Tensor, y, c_fake) -> torch.Tensor:
        return self.objective.g_loss(self.D(fake, y, c_fake))

    def g_batch(self, fake: torch.Tensor, y_fake, c_fake):
        """The G step's generated batch (fake, labels, codes): the last D step's, kept with its graph."""
        return fake, y_fake, c_fake

    def d_fakes(self, x: torch.Tensor, y, keep_graph: bool):
        """The generated records of a D update on member batch (x, y): (fake, labels, codes); the G step may
        reuse the last one's (`keep_graph`)."""
        y_fake, c_fake = self.fake_labels(x, y), self.fake_codes(x)
        with torch.set_grad_enabled(keep_graph):
            fake = self.G(self.noise(x), y_fake, c_fake)
        return fake, y_fake, c_fake

    def d_batches(self, real: torch.Tensor, labels: torch.Tensor, codes: torch.Tensor):
        """The member batches of the D updates: the loop's n_critic batches (DP-SGD draws its own)."""
        return zip(real.unbind(0), labels.unbind(0), codes.unbind(0))

    def __call__(self, real: torch.Tensor, labels: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """real: [n_critic, B, C, H, W]; labels, codes: [n_critic, B]. Returns the losses, one tensor."""
        D = self.D
        D.requires_grad_(True)
        n_critic = real.shape[0]
        for i, (x, y, c) in enumerate(self.d_batches(real, labels, codes)):
            y = y if self.conditional else None
            c = c if self.n_codes else None
            fake, y_fake, c_fake = self.d_fakes(x, y, keep_graph=i == n_critic - 1 and self.reuses_last_fake)
            d_loss, penalty = self.d_update(x, y, c, fake.detach(), y_fake, c_fake)
        extra = self.after_d(fake.detach(), y_fake, c_fake)

        # G step: D's parameters get no gradients (and so carry no per-sample state either)
        D.requires_grad_(False)
        fake, y_fake, c_fake = self.g_batch(fake, y_fake, c_fake)
        g_loss = self.g_loss(fake, y_fake, c_fake)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        D.requires_grad_(True)
        penalty = torch.zeros_like(d_loss) if penalty is None else penalty
        return torch.stack([d_loss.detach(), g_loss.detach(), penalty.detach(), *[e.detach() for e in extra]])
