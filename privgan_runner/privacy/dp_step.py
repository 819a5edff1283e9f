"""The DP-SGD training step (DP-SGD and dp-GAN): Poisson batches of the members, D's update privatized, everything
else G sees drawn without the members. Opacus' update is the step's own (`DPStep.d_update` through Opacus'
optimizer); fast_dp_step.py replaces only the D update. In a module of its own so that neither the mechanism
(dpsgd.py) nor the fast step imports the other."""

from __future__ import annotations

import torch

from ..training.step import AdversarialStep, frozen_statistics


def nchw(t: torch.Tensor) -> torch.Tensor:
    """t with NCHW strides. Opacus' convolution grad sampler (opacus/utils/tensor_utils.py unfold2d) reads
    activations with as_strided assuming NCHW strides: on channels_last activations -- which a 1-channel
    batch with channel stride 1 also yields -- its per-sample gradients are wrong (cosine ~0 to the true
    ones, tests/test_dp_fast.py), and the gradient they sum to is wrong too."""
    if t.dim() != 4 or t.stride() == torch.empty(t.shape).stride():
        return t
    return t.clone(memory_format=torch.contiguous_format)


class DPStep(AdversarialStep):
    """The DP-SGD step. Only D's clipped and noised update may depend on the members: everything else G
    sees is drawn without them -- generated labels from the public prior (uniform over the classes) and
    the G step's batch of fixed size `batch_size` (never the Poisson count), drawn afresh after the
    D steps rather than reused from the last one.

    The D updates' generated records are made in chunks of `batch_size` with G's statistics frozen: through
    BatchNorm's batch statistics a generated record depends on the records generated with it, so one batch
    of the Poisson count would make every pair's gradient depend on how many members were sampled (the
    clipped sum's sensitivity argument needs each pair to depend on its own record only), and G's running
    statistics -- released with G -- would learn that count."""

    reuses_last_fake = False

    def __init__(
        self,
        *args,
        members,
        sample_rate: float,
        poisson: bool,
        batch_size: int,
        accounted_rate: float,
        canaries=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.members, self.sample_rate, self.poisson, self.batch_size = members, sample_rate, poisson, batch_size
        #: the rate the accountant is charged with: the rate records are drawn at (a test plants a bug between them)
        self.accounted_rate = accounted_rate
        self.canaries = canaries  # the audit's gradient canaries (audit/gradient.py), or None

    def d_batches(self, real, labels, codes):
        if not self.poisson:
            yield from super().d_batches(real, labels, codes)
            return
        X, Y, C = self.members
        for _ in range(real.shape[0]):
            idx = (torch.rand(X.shape[0], device=X.device) < self.sample_rate).nonzero().squeeze(1)
            yield X[idx], Y[idx], C[idx]

    def fake_labels(self, like, y):
        """Uniform over the classes, never the members' labels (they would reach G outside the accountant)."""
        if not self.conditional:
            return None
        return torch.randint(0, self.n_classes, (like.shape[0],), device=like.device)

    def d_fakes(self, x, y, keep_graph: bool):
        n, B = x.shape[0], self.batch_size
        like = x.new_empty(B)
        chunks = []
        with torch.no_grad(), frozen_statistics(self.G):
            for _ in range(max(1, -(-n // B))):
                y_fake, c_fake = self.fake_labels(like, None), self.fake_codes(like)
                chunks.append((self.G(self.noise(like), y_fake, c_fake), y_fake, c_fake))
        fake, y_fake, c_fake = (None if parts[0] is None else torch.cat(parts)[:n] for parts in zip(*chunks))
        return fake, y_fake, c_fake

    def d_update(self, x, y, c, fake, y_fake, c_fake):
        self.D.enable_hooks()
        x, fake = nchw(x), nchw(fake)
        d_loss, penalty = super().d_update(x, y, c, fake, y_fake, c_fake)
        self.opt_d.zero_grad(set_to_none=True)  # drop the per-sample gradients once they are used
        return d_loss, penalty

    def g_batch(self, fake, y_fake, c_fake):
        like = fake.new_empty(self.batch_size)
        y, c = self.fake_labels(like, None), self.fake_codes(like)
        return self.G(self.noise(like), y, c), y, c

    def g_loss(self, fake, y, c_fake):
        self.D.disable_hooks()
        return super().g_loss(fake, y, c_fake)
