"""DP-SGD on the discriminator (Opacus): the DPGAN / dp-GAN recipe.

Only D touches the members, so only D's updates are privatized; G is post-processing of a
private D. Each D step draws a Poisson-sampled batch (rate q = batch_size / members), pairs every
real record with one generated record, and makes ONE per-sample gradient of the pair's loss
(both forward passes have the same batch size, so Opacus accumulates them into the same slot),
clipped to `max_grad_norm` and noised once -- the pattern Opacus's DCGAN example adopted after
the real and fake halves were found to be charged twice. The G step runs with D's per-sample hooks
off and D's parameters frozen, so it leaves no per-sample gradients on D.

The noise multiplier is computed by Opacus for the run's real number of D steps (epochs x
steps per epoch x n_critic) to reach (epsilon, delta), unless `noise_multiplier` is given; the
accountant (`rdp` or `prv`) records every step and the spent epsilon goes to results.json.
A D that Opacus cannot wrap is converted (BatchNorm -> GroupNorm, recorded) or refused with the
reason (spectral norm's parametrization keeps buffers; gradient penalty needs a double backward).
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

from ..errors import ConfigError
from ..training.step import StepContext
from .accounted import Accounted, check_budget, check_clip
from .dp_step import DPStep

ACCOUNTANTS = ("rdp", "prv", "gdp")
#: how per-sample gradients are computed: Opacus' per-layer hooks (the reference) or torch.func (fast_dp_step.py)
GRAD_SAMPLE = ("opacus", "fast")

#: what a DP run releases beyond G and D that is computed from the members without noise (docs/privacy.md)
NOT_COVERED = (
    "training losses (history, results.json train.final, W&B): D's loss on the private batches",
    "the collapse decision, taken on those losses",
)

# Opacus' full backward hooks fire on D's first layer although the real images need no gradient: expected
warnings.filterwarnings(
    "ignore",
    message="Full backward hook is firing when gradients are computed with respect to module outputs",
    category=UserWarning,
)


@lru_cache(maxsize=64)
def _calibrated(target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str) -> float:
    from opacus.accountants.utils import get_noise_multiplier

    try:
        return float(
            get_noise_multiplier(
                target_epsilon=target_epsilon,
                target_delta=delta,
                sample_rate=sample_rate,
                steps=steps,
                accountant=accountant,
            )
        )
    except ValueError as exc:  # Opacus: "The privacy budget is too low."
        raise ConfigError(
            "privacy.epsilon",
            f"epsilon {target_epsilon:g} at delta {delta:g} cannot be reached in {steps} steps at sampling rate "
            f"{sample_rate:.4g} ({exc}): raise privacy.epsilon or train fewer steps",
        ) from None


class DPSGD(Accounted):
    capturable = False  # Poisson batches have random sizes; Opacus' clipping runs on the host side
    canary_entry = "D's clipped per-pair gradient sum of each D step, before the noise (a Poisson draw per canary)"

    def canary_capacity(self, model, image_size: int, channels: int, n_classes: int) -> int:
        _, D = self.build_models(model, image_size, channels, n_classes)
        return max(p.numel() for p in D.parameters() if p.requires_grad)

    def __init__(
        self,
        epsilon: float | None = None,
        delta: float = 1e-5,
        noise_multiplier: float | None = None,
        max_grad_norm: float = 1.0,
        accountant: str = "rdp",
        poisson_sampling: bool = True,
        secure_mode: bool = False,
        grad_sample: str = "opacus",
    ):
        if grad_sample not in GRAD_SAMPLE:
            raise ConfigError("grad_sample", f"must be one of {', '.join(GRAD_SAMPLE)}, got {grad_sample!r}")
        epsilon = check_budget(epsilon, noise_multiplier, delta)
        check_clip("max_grad_norm", max_grad_norm)
        if accountant not in ACCOUNTANTS:
            raise ConfigError("accountant", f"must be one of {', '.join(ACCOUNTANTS)}, got {accountant!r}")
        self.target_epsilon, self.delta = epsilon, float(delta)
        self.given_noise_multiplier = noise_multiplier
        self.noise_multiplier, self.max_grad_norm = noise_multiplier, float(max_grad_norm)
        self.accountant_name, self.poisson, self.secure_mode = accountant, bool(poisson_sampling), secure_mode
        self.grad_sample = grad_sample
        self.accountant = None
        self.sample_rate: float | None = None
        self.sample_rate_basis: str | None = None
        self.planned_steps: int | None = None
        self.conversions: list[str] = []
        self.fake_label_prior: str | None = None

    def check(self, n_members: int, trainer, regularizer=None, **setting) -> None:
        self.check_reachable(n_members, trainer, setting)
        if getattr(trainer, "precision", "fp32") == "bf16":
            raise ConfigError(
                "trainer.precision",
                "bf16 is not supported with DP-SGD: Opacus' per-sample gradients come out in bfloat16 and "
                "cannot be assigned to D's float32 parameters (use fp32 or tf32)",
            )
        if self.grad_sample == "opacus" and getattr(trainer, "channels_last", False):
            raise ConfigError(
                "trainer.channels_last",
                "Opacus' per-sample convolution gradients assume NCHW strides and are wrong on channels_last "
                "activations: use privacy.grad_sample=fast, or trainer.channels_last=false",
            )
        if regularizer is not None and regularizer.needs_double_backward:
            raise ConfigError(
                "regularizer",
                f"{regularizer.name} differentiates D's input gradient (a double "
                "backward), which Opacus' per-sample gradient hooks do not support",
            )
        if self.grad_sample == "opacus" and regularizer is not None and regularizer.reparametrizes_weights:
            raise ConfigError(
                "regularizer",
                f"{regularizer.name} reparametrizes D's weights with buffers (its power iteration): Opacus' hooks "
                "cannot compute per-sample gradients through them",
            )
        if regularizer is not None and regularizer.has_penalty:
            raise ConfigError(
                "regularizer",
                f"{regularizer.name} adds a penalty on D's weights whose gradient is "
                "not per-sample: the DP optimizer replaces D's gradient by the clipped, "
                "noised per-sample sum and would silently drop it",
            )

    def check_reachable(self, n_members: int, trainer, setting: dict) -> None:
        """The noise multiplier for the run's planned D steps, computed now: a target epsilon that no noise
        multiplier reaches is refused before anything is written."""
        n = setting.get("n_nominal") or n_members
        steps = trainer.epochs * self.steps_per_epoch(int(n), trainer.batch_size, trainer.n_critic) * trainer.n_critic
        self.calibrated_noise(trainer.batch_size / n, steps)

    def build_models(self, model, image_size: int, channels: int, n_classes: int):
        from opacus.validators import ModuleValidator

        G, D = super().build_models(model, image_size, channels, n_classes)
        if ModuleValidator.validate(D, strict=False):
            before = {name: type(m).__name__ for name, m in D.named_modules()}
            D = ModuleValidator.fix(D)  # BatchNorm mixes records, so per-sample gradients need GroupNorm
            after = {name: type(m).__name__ for name, m in D.named_modules()}
            self.conversions = [
                f"{name}: {before[name]} -> {after[name]}"
                for name in before
                if name in after and before[name] != after[name]
            ]
        return G, D

    def plan(self, ctx: StepContext) -> None:
        """Sample rate, planned D steps, the noise multiplier for them and a fresh accountant."""
        from opacus.accountants import create_accountant

        self.fake_label_prior = "uniform over the classes" if ctx.conditional else None
        n = ctx.n_nominal if ctx.n_nominal is not None else ctx.members[0].shape[0]
        self.sample_rate = ctx.batch_size / n
        self.sample_rate_basis = (
            "trainer.batch_size / (members + n_canaries / 2): fixed before the canaries' coins"
            if ctx.n_nominal is not None
            else "trainer.batch_size / members"
        )
        self.planned_steps = ctx.steps * ctx.n_critic
        self.noise_multiplier = self.calibrated_noise(self.sample_rate, self.planned_steps)
        self.accountant = create_accountant(mechanism=self.accountant_name)

    def calibrated_noise(self, sample_rate: float, steps: int) -> float:
        """The accounted noise multiplier: the given one, or Opacus' for the target epsilon over `steps` D steps
        (ConfigError naming privacy.epsilon when no noise multiplier reaches it)."""
        if self.given_noise_multiplier is not None:
            return self.from_given(self.given_noise_multiplier)
        return _calibrated(self.target_epsilon, self.delta, sample_rate, steps, self.accountant_name)

    def from_given(self, noise_multiplier: float) -> float:
        """The accounted multiplier of a given privacy.noise_multiplier (dp-GAN: sigma / sqrt(groups))."""
        return float(noise_multiplier)

    def step_kwargs(self, ctx: StepContext) -> dict:
        """What both DP steps take beyond the adversarial step's arguments."""
        return dict(
            members=ctx.members,
            sample_rate=self.sample_rate,
            accounted_rate=self.sample_rate,
            poisson=self.poisson,
            batch_size=ctx.batch_size,
            canaries=self.gradient_canaries,
        )

    def make_step(self, G, D, objective, regularizer, ctx: StepContext):
        self.plan(ctx)
        if self.grad_sample == "fast":
            from .fast_dp_step import FastDPStep

            return self.fast_step(FastDPStep, G, D, objective, regularizer, ctx, self.noise_multiplier)
        return self.opacus_step(G, D, objective, regularizer, ctx)

    def fast_step(self, step_class, G, D, objective, regularizer, ctx: StepContext, noise_multiplier, **extra):
        """A step of `step_class` (FastDPStep or a subclass) with the trainer's Adam on G and D."""
        return step_class.for_context(
            ctx,
            G,
            D,
            objective,
            regularizer,
            self.n_codes,
            opt_g=ctx.make_optimizer(G.parameters(), capturable=False),
            opt_d=ctx.make_optimizer(D.parameters(), capturable=False),
            accountant=self.accountant,
            noise_multiplier=noise_multiplier,
            max_grad_norm=self.max_grad_norm,
            secure_mode=self.secure_mode,
            **self.step_kwargs(ctx),
            **extra,
        )

    def opacus_step(self, G, D, objective, regularizer, ctx: StepContext):
        from opacus import GradSampleModule

        from .audited_optimizer import AuditedDPOptimizer

        try:
            D_private = GradSampleModule(D, loss_reduction="mean", strict=True)
        except NotImplementedError as exc:
            raise ConfigError(
                "privacy",
                f"Opacus cannot compute per-sample gradients for this D (regularizer={regularizer.name}): {exc}",
            ) from None
        opt_d = AuditedDPOptimizer(
            ctx.make_optimizer(D.parameters(), capturable=False),
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.max_grad_norm,
            expected_batch_size=ctx.batch_size,
            loss_reduction="mean",
            secure_mode=self.secure_mode,
        )
        opt_d.attach_step_hook(self.accountant.get_optimizer_hook_fn(sample_rate=self.sample_rate))
        step = DPStep.for_context(
            ctx,
            G,
            D_private,
            objective,
            regularizer,
            self.n_codes,
            opt_g=ctx.make_optimizer(G.parameters(), capturable=False),
            opt_d=opt_d,
            **self.step_kwargs(ctx),
        )
        if step.canaries is not None:
            names = [name for name, p in D.named_parameters() if p.requires_grad]
            opt_d.attach_canaries(step.canaries, names, claimed_rate=step.accounted_rate, draw_rate=step.sample_rate)
        return step

    def describe(self) -> dict[str, Any]:
        out = {
            "mechanism": self.name,
            "epsilon": self.spent_epsilon(),
            "delta": self.delta,
            "target_epsilon": self.target_epsilon,
            "noise_multiplier": self.noise_multiplier,
            "max_grad_norm": self.max_grad_norm,
            "sample_rate": self.sample_rate,
            "sample_rate_basis": self.sample_rate_basis,
            "steps": self.accounted_steps(),
            "step_unit": "D steps",
            "planned_steps": self.planned_steps,
            "accountant": self.accountant_name,
            "neighbouring": "add/remove one member (Poisson subsampling: each member is in a D step's batch "
            "independently with probability sample_rate)",
            "grad_sample": self.grad_sample,
            "poisson_sampling": self.poisson,
            "converted": self.conversions,
            "fake_label_prior": self.fake_label_prior,
            "g_batch_size": "trainer.batch_size (fixed)",
            "not_covered": list(NOT_COVERED),
        }
        if not self.poisson:
            out["accounting_note"] = (
                "poisson_sampling=false: batches are shuffled fixed-size slices, but the "
                "accountant assumes Poisson sampling; the reported epsilon is not a guarantee"
            )
        return out
