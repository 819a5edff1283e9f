"""GS-WGAN (Chen, Orekondy & Fritz, NeurIPS 2020): sanitize only the gradient that flows from D into G.

Only G is released. The members are split into K disjoint subsets, one per discriminator; each G step
picks one discriminator at random, trains it (WGAN-GP, n_critic steps, not private: it is never
released) on its own subset, then updates G through it. The gradient of G's loss with respect to each
generated sample is clipped to C and noised with N(0, (2 C sigma)^2) -- "SENSITIVITY = 2" and
`noise = clip_bound * noise_multiplier * SENSITIVITY` in the reference code (github.com/DingfanChen/
GS-WGAN, source/main.py, dp_conv_hook) -- and only then back-propagated into G. A record reaches G's
update only when its subset's discriminator is picked: probability q = 1/K.

Accounting (`accounting`), both with the reference code's accountant (subsampled_rdp.py: Wang, Balle &
Kasiviswanathan 2019, Theorem 9, subsampling without replacement at rate 1/K -- autodp's
`compose_subsampled_mechanism` in evaluation/privacy_analysis.py):
- `joint` (default): the step releases B sanitized rows that one record may all move (sensitivity 2C each,
  2C sqrt(B) together, noise 2C sigma per coordinate): one subsampled Gaussian with noise multiplier
  sigma / sqrt(B) per G step. This is the mechanism as run.
- `per_sample`: the reference's composition, `compose_subsampled_mechanism(func, prob=1/K, coeff=n_steps *
  batch_size)`: B x steps subsampled Gaussians of multiplier sigma, each amplified on its own. The B rows of a
  step share one subsampling event, so this is not the mechanism as run; results.json says so
  (`accounting_note`). At the paper's setting (sigma 1.07, B 32, 20,000 steps, K 1,000, delta 1e-5) it gives
  epsilon 9.99, the reference's figure.

Neighbouring relation: a member's discriminator is a seeded hash of its pool index (`member_codes`), so adding,
removing or replacing one record moves no other record between subsets; in each case the two output laws of a
step are (1 - 1/K) R + (1/K) A against (1 - 1/K) R + (1/K) B, which Theorem 9 bounds. The subsets' sizes are
therefore random (about n/K each); a discriminator whose subset is empty is never trained, and G learns
through it from nothing private. (The reference splits a shuffled index list into K equal parts: adding one
record there reshuffles every subset.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..errors import ConfigError
from ..training.step import AdversarialStep, StepContext, frozen_statistics
from . import per_sample, subsampled_rdp
from .accounted import Accounted, check_budget, check_clip, subset_hash
from .privgan import DiscriminatorSet

ACCOUNTING = ("joint", "per_sample")
SENSITIVITY = 2.0  # a changed record may move a clipped row anywhere in the C-ball: 2C apart

NOT_COVERED = (
    "the discriminators: trained on the members without noise and not released; white-box attacks on "
    "them measure models outside the guarantee",
    "training losses (history, results.json train.final, W&B), computed on the members without noise",
    "the collapse decision, taken on those losses",
)


def clipped_rows(grad: torch.Tensor, clip: float) -> torch.Tensor:
    """[B, P]: each row (one generated sample's gradient) clipped to `clip`."""
    rows = grad.flatten(1)
    factors = per_sample.clip_factors(rows.norm(2, dim=1), clip, eps=1e-10)  # the reference's eps
    return (rows * factors[:, None]).contiguous()


def sanitize_rows(grad: torch.Tensor, clip: float, noise_multiplier: float, canaries=None, chosen=None, rate=None):
    """Each row clipped to `clip`, plus N(0, (2 clip sigma)^2) noise. `canaries` (the audit's gradient canaries):
    the ones `chosen` ([m] bool: their discriminator is the picked one) enter every row's clipped sum before the
    noise, under replace-one (module docstring's relation), as a record of the picked subset would; `rate`: the
    sampling rate the mechanism is accounted with."""
    rows = clipped_rows(grad, clip)
    std = SENSITIVITY * clip * noise_multiplier
    names = [f"row{r}" for r in range(rows.shape[0])]  # each row its own clipping group
    if canaries is not None:
        n = len(names)
        canaries.enter(
            dict(zip(names, rows)),
            [[name] for name in names],
            [clip] * n,
            [std] * n,
            relation="replace",
            claimed_rate=rate,
            chosen=chosen,
        )
    noised = rows + per_sample.gaussian_noise(std, rows)
    if canaries is not None:
        canaries.observe(dict(zip(names, noised)))
    return noised.view_as(grad)


class GSWGANStep(AdversarialStep):
    """Pick a discriminator, train it on its subset, update G through a sanitized gradient."""

    reuses_last_fake = False

    def __init__(self, *args, mechanism: GSWGAN, members, batch_size: int, subsets: list[torch.Tensor], **kwargs):
        super().__init__(*args, **kwargs)
        self.mechanism, self.members, self.batch_size, self.subsets = mechanism, members, batch_size, subsets
        self.g_inputs: list[tuple[torch.Tensor, torch.Tensor | None]] = []  # for instrumentation (tests)

    def subset_batch(self, k: int):
        """B records of subset k, drawn with replacement (None for an empty subset)."""
        X, Y, _ = self.members
        if not len(self.subsets[k]):
            return None
        idx = self.subsets[k][torch.randint(0, len(self.subsets[k]), (self.batch_size,), device=X.device)]
        return X[idx], (Y[idx] if self.conditional else None)

    def train_discriminator(self, k: int, steps: int):
        D_k = self.D.members[k]
        D_k.requires_grad_(True)
        d_loss = penalty = None
        for _ in range(steps if len(self.subsets[k]) else 0):  # an empty subset's discriminator never trains
            x, y = self.subset_batch(k)
            with torch.no_grad(), frozen_statistics(self.G):  # G learns only in its sanitized step
                fake = self.G(self.noise(x), y)
            d_loss = self.objective.d_loss(D_k(x, y), D_k(fake, y))
            penalty = self.regularizer.penalty(D_k, lambda inp, y=y: D_k(inp, y), x, fake)
            total = d_loss if penalty is None else d_loss + penalty
            self.opt_d.zero_grad(set_to_none=True)
            total.backward()
            self.opt_d.step()
        D_k.requires_grad_(False)
        if d_loss is None:
            d_loss = torch.zeros((), device=self.members[0].device)
        return d_loss, penalty

    def fake_labels(self, like, y):
        """Uniform over the classes (the reference draws them so), never the members' labels."""
        if not self.conditional:
            return None
        return torch.randint(0, self.n_classes, (like.shape[0],), device=like.device)

    def g_terms(self, k: int, fake: torch.Tensor, y) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The sum over generated samples of G's per-sample loss (gradients w.r.t. `fake` are per-sample)."""
        return self.objective.g_loss(self.D.members[k](fake, y)) * fake.shape[0], []

    def __call__(self, real, labels, codes):
        m = self.mechanism
        if not m.warm_started:
            m.warm_started = True
            for j in range(len(self.subsets)):
                self.train_discriminator(j, m.warm_start_steps)
        k = int(torch.randint(0, len(self.subsets), ()))
        d_loss, penalty = self.train_discriminator(k, real.shape[0])

        like = real.new_empty(self.batch_size)
        z, y = self.noise(like), self.fake_labels(like, None)
        self.g_inputs.append((z, y))
        fake = self.G(z, y)
        at_d = fake.detach().requires_grad_(True)
        g_sum, extra = self.g_terms(k, at_d, y)
        (grad,) = torch.autograd.grad(g_sum, at_d)
        canaries = m.gradient_canaries
        chosen = None if canaries is None else torch.from_numpy(canaries.codes == k)
        sanitized = sanitize_rows(grad, m.clip, m.row_noise_multiplier, canaries, chosen, m.sample_rate)
        self.opt_g.zero_grad(set_to_none=True)
        fake.backward(sanitized / fake.shape[0])  # the mean over the batch, as G's loss is a mean
        self.opt_g.step()
        m.charge()
        g_loss = (g_sum / fake.shape[0]).detach()
        penalty = torch.zeros_like(g_loss) if penalty is None else penalty.detach()
        return torch.stack([d_loss.detach(), g_loss, penalty, *[e.detach() for e in extra]])


class GSWGAN(Accounted):
    name = "gswgan"
    capturable = False  # the discriminator is picked on the host
    releases_discriminator = False  # the discriminators are trained on the members without noise
    step_class = GSWGANStep
    canary_entry = (
        "every clipped row of G's sample gradients, before the noise, when the canary's discriminator (a hash of "
        "its id, as a member's) is the picked one"
    )

    def canary_capacity(self, model, image_size: int, channels: int, n_classes: int) -> int:
        return channels * image_size * image_size  # a row: one generated sample's gradient

    def __init__(
        self,
        epsilon: float | None = None,
        delta: float = 1e-5,
        noise_multiplier: float | None = None,
        clip: float = 1.0,
        n_discriminators: int = 1000,
        warm_start_steps: int = 0,
        accounting: str = "joint",
    ):
        epsilon = check_budget(epsilon, noise_multiplier, delta)
        check_clip("clip", clip)
        if not isinstance(n_discriminators, int) or n_discriminators < 1:
            raise ConfigError("n_discriminators", f"must be a positive integer, got {n_discriminators!r}")
        if not isinstance(warm_start_steps, int) or warm_start_steps < 0:
            raise ConfigError("warm_start_steps", f"must be an integer >= 0, got {warm_start_steps!r}")
        if accounting not in ACCOUNTING:
            raise ConfigError("accounting", f"must be one of {', '.join(ACCOUNTING)}, got {accounting!r}")
        self.target_epsilon, self.delta, self.given_noise_multiplier = epsilon, float(delta), noise_multiplier
        self.clip, self.n_discriminators = float(clip), n_discriminators
        self.warm_start_steps, self.accounting = warm_start_steps, accounting
        self.row_noise_multiplier: float | None = None
        self.accounted_multiplier: float | None = None
        self.count_per_step = 1
        self.planned_steps: int | None = None
        self.warm_started = False
        self.n_empty_subsets: int | None = None
        self.classifiers: nn.ModuleList | None = None

    @property
    def sample_rate(self) -> float:
        return 1.0 / self.n_discriminators

    def check(self, n_members: int, trainer, regularizer=None, **setting) -> None:
        from ..objectives.wasserstein import Wasserstein

        if not isinstance(setting.get("objective"), Wasserstein):
            raise ConfigError("objective", f"{self.name} trains WGAN-GP discriminators: use objective=wasserstein")
        if regularizer is None or regularizer.name != "gradient_penalty":
            raise ConfigError(
                "regularizer", f"{self.name} trains WGAN-GP discriminators: use regularizer=gradient_penalty"
            )
        if n_members < self.n_discriminators:
            raise ConfigError(
                "privacy.n_discriminators",
                f"{self.n_discriminators} discriminators need about one member each at least; there are {n_members}",
            )
        if getattr(trainer, "precision", "fp32") == "bf16":
            raise ConfigError("trainer.precision", "bf16 is not supported with DP training (use fp32 or tf32)")
        self.calibrated_noise(trainer.batch_size, self.planned_g_steps(setting.get("n_nominal") or n_members, trainer))

    def steps_per_epoch(self, n_members: int, batch_size: int, n_critic: int) -> int:
        return max(1, n_members // batch_size // n_critic)

    def member_codes(self, n_members: int, seed: int, record_ids=None) -> torch.Tensor:
        """Each member's discriminator: a seeded hash of its pool index (module docstring: no other record moves
        when one is added or removed)."""
        ids = np.arange(n_members) if record_ids is None else np.asarray(record_ids)
        return torch.from_numpy((subset_hash(ids, seed) % np.uint64(self.n_discriminators)).astype(np.int64))

    def build_models(self, model, image_size: int, channels: int, n_classes: int):
        pairs = [model.build(image_size, channels, n_classes) for _ in range(self.n_discriminators)]
        return pairs[0][0], DiscriminatorSet([d for _, d in pairs])

    def planned_g_steps(self, n_members: float, trainer) -> int:
        return trainer.epochs * self.steps_per_epoch(int(n_members), trainer.batch_size, trainer.n_critic)

    def accounted_scale(self, batch_size: int) -> float:
        """The row multiplier over the accounted one: sqrt(B) for `joint` (B rows, one mechanism), 1 for
        `per_sample`."""
        return 1.0 if self.accounting == "per_sample" else math.sqrt(batch_size)

    def calibrated_noise(self, batch_size: int, g_steps: int) -> float:
        """The row noise multiplier: the given one, or the smallest that spends the target epsilon in `g_steps`
        (ConfigError naming privacy.epsilon when no noise multiplier reaches it)."""
        if self.given_noise_multiplier is not None:
            return float(self.given_noise_multiplier)
        count = g_steps * (batch_size if self.accounting == "per_sample" else 1)
        try:
            sigma = subsampled_rdp.noise_multiplier(self.target_epsilon, self.delta, self.sample_rate, count)
        except ValueError as exc:
            raise ConfigError("privacy.epsilon", f"{exc}: raise privacy.epsilon or train fewer steps") from None
        return self.accounted_scale(batch_size) * sigma

    def plan(self, ctx: StepContext) -> None:
        B = ctx.batch_size
        self.planned_steps = ctx.steps
        self.count_per_step = B if self.accounting == "per_sample" else 1
        self.row_noise_multiplier = self.calibrated_noise(B, ctx.steps)
        self.accounted_multiplier = self.row_noise_multiplier / self.accounted_scale(B)
        self.accountant = subsampled_rdp.SubsampledGaussianAccountant()
        self.n_empty_subsets = int(sum(1 for k in range(self.n_discriminators) if not (ctx.members[2] == k).any()))

    def charge(self) -> None:
        self.accountant.step(noise_multiplier=self.accounted_multiplier, sample_rate=self.sample_rate)
        if self.count_per_step > 1:  # per_sample: B compositions per step, folded into one history entry
            sigma, q, n = self.accountant.history[-1]
            self.accountant.history[-1] = (sigma, q, n + self.count_per_step - 1)

    def step_kwargs(self, ctx: StepContext) -> dict:
        C = ctx.members[2]
        subsets = [(C == k).nonzero().squeeze(1) for k in range(self.n_discriminators)]
        return dict(mechanism=self, members=ctx.members, batch_size=ctx.batch_size, subsets=subsets)

    def make_step(self, G, D, objective, regularizer, ctx: StepContext):
        self.plan(ctx)
        return self.step_class.for_context(
            ctx,
            G,
            D,
            objective,
            regularizer,
            0,
            opt_g=ctx.make_optimizer(G.parameters(), capturable=False),
            opt_d=ctx.make_optimizer(D.parameters(), capturable=False),
            **self.step_kwargs(ctx),
        )

    @torch.no_grad()
    def d_views(self, D, x, y):
        return D.views(x, y)

    def describe(self) -> dict[str, Any]:
        out = {
            "mechanism": self.name,
            "epsilon": self.spent_epsilon(),
            "delta": self.delta,
            "target_epsilon": self.target_epsilon,
            "released": "G only",
            "releases_discriminator": False,  # attacks that read D measure models outside the guarantee
            "noise_multiplier": self.accounted_multiplier,
            "row_noise_multiplier": self.row_noise_multiplier,
            "clip": self.clip,
            "sensitivity": f"{SENSITIVITY:g} x clip per generated sample",
            "sample_rate": self.sample_rate,
            "steps": self.accounted_steps(),
            "step_unit": "G steps" if self.accounting == "joint" else "sanitized rows (batch_size per G step)",
            "planned_steps": self.planned_steps,
            "accountant": "wbk19",
            "accountant_note": "RDP of the Gaussian subsampled without replacement at rate 1/K (Wang, Balle & "
            "Kasiviswanathan 2019, Thm. 9; the reference code's autodp accountant), classic RDP-to-DP conversion",
            "neighbouring": "add/remove or replace one member (a member's discriminator is a hash of its pool "
            "index: no other member changes subset)",
            "accounting": self.accounting,
            "n_empty_subsets": self.n_empty_subsets,
            "n_discriminators": self.n_discriminators,
            "warm_start_steps": self.warm_start_steps,
            "fake_label_prior": "uniform over the classes",
            "not_covered": list(NOT_COVERED),
        }
        if self.accounting == "per_sample":
            out["accounting_note"] = (
                "per_sample: the reference code's composition of batch_size x steps separately subsampled "
                "mechanisms; one step's rows share one subsampling event, so this epsilon is not a proven bound"
            )
        return out
