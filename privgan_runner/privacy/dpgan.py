"""dp-GAN (Zhang, Ji & Wang 2018, ../shared/papers/zhang_ji_wang_dp_gan.md): a DP WGAN-GP critic.

Algorithm 1: the critic's per-sample gradients -- of its WGAN loss AND of each sample's gradient
penalty, a double backward that Opacus' hooks refuse and torch.func's vmap(grad) computes -- are clipped
and noised (lines 7-8). Algorithm 3 adds (Section 4):
- parameter grouping (4.1, `n_groups_clip`): 1 = global clipping; `by_layer`; `weight_bias` (the
  weight/bias separation); k >= 2 = Algorithm 2's clustering of the parameters' clipping bounds, "we
  recursively find two groups G, G' with the most similar clipping bounds and merge them ... the clipping
  bound of the newly formed group is computed as sqrt(c(G)^2 + c(G')^2)". A parameter is a tensor here.
- adaptive clipping (4.2, `adaptive_clip`): "During each training step, we randomly sample a batch of
  examples from D_pub, and set the clipping bound of each parameter as the average gradient norm with
  respect to this batch." A group's bound is Algorithm 2's merged bound (`group_bound: l2`), or the
  average of its parameters' bounds, as Section 4.4 says the implementation did (`group_bound: mean`).
- warm starting (4.3, `warm_start_steps`): "using D_pub, we first train a few iterations without the DP
  constraint, and then continue the training using D_pri under the DP constraint".

Accounting. Group j is clipped to c_j and noised N(0, (sigma c_j)^2) (Algorithm 3, lines 9-12). The paper
argues (Theorem 4.1's proof) that the k groups compose in parallel, each (eps, delta)-DP; they do not: all
k sub-vectors are computed from the same record, so changing it changes every one. Scaled by 1/c_j, the
clipped record's gradient has norm <= sqrt(k): one Gaussian mechanism with noise multiplier sigma / sqrt(k),
which is what the accountant is charged (per_sample.accounted_noise_multiplier). With a target epsilon,
Opacus picks that accounted multiplier and the groups are noised with it times sqrt(k).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..errors import ConfigError
from ..training.step import AdversarialStep, StepContext, frozen_statistics
from .dpsgd import DPSGD
from .fast_dp_step import FastDPStep, one_record
from .per_sample import accounted_noise_multiplier, group_norms, per_sample_gradients

GROUPINGS = ("by_layer", "weight_bias")
GROUP_BOUNDS = ("l2", "mean")


def bound_ratio(a: float, b: float) -> float:
    """Algorithm 2's similarity of two clipping bounds: max(c/c', c'/c) (1 for equal bounds)."""
    low, high = min(a, b), max(a, b)
    if low == high:
        return 1.0
    return high / low if low > 0 else math.inf


def cluster_bounds(bounds: dict[str, float], k: int) -> list[list[str]]:
    """Algorithm 2 (Weight-Clustering): start with one group per parameter; while more than k remain, merge
    "G, G' <- argmin max(c(G)/c(G'), c(G')/c(G))" (line 3) with bound sqrt(c(G)^2 + c(G')^2) (line 4); ties
    go to the first pair in parameter order. Fewer than k parameters make fewer than k groups."""
    groups = [([name], c) for name, c in bounds.items()]
    while len(groups) > k:
        order = sorted(range(len(groups)), key=lambda i: groups[i][1])  # the most similar ratio is a neighbour
        i, j = min(zip(order, order[1:]), key=lambda ij: (bound_ratio(groups[ij[0]][1], groups[ij[1]][1]), min(ij)))
        (a, ca), (b, cb) = groups[i], groups[j]
        groups[min(i, j)] = (a + b if i < j else b + a, math.hypot(ca, cb))
        del groups[max(i, j)]
    return [names for names, _ in groups]


def fixed_groups(names: list[str], grouping) -> list[list[str]]:
    """The groups that do not need bounds: 1 (global), by_layer (a module's parameters), weight_bias."""
    if grouping == 1:
        return [names]
    if grouping == "weight_bias":
        biases = [n for n in names if n.endswith("bias")]
        return [g for g in ([n for n in names if n not in biases], biases) if g]
    layers: dict[str, list[str]] = {}
    for n in names:
        layers.setdefault(n.rsplit(".", 1)[0], []).append(n)
    return list(layers.values())


class PublicWarmStartStep(AdversarialStep):
    """A plain WGAN-GP step on public records (the warm start). As in the private steps, G's statistics learn only
    in the forward its G step uses (the last critic batch's); the other critic batches' are made frozen."""

    def d_fakes(self, x, y, keep_graph: bool):
        if keep_graph:
            return super().d_fakes(x, y, keep_graph)
        with frozen_statistics(self.G):
            return super().d_fakes(x, y, keep_graph)


class DPGANStep(FastDPStep):
    """The critic's DP update (per-sample WGAN + gradient-penalty gradients, grouped clipping)."""

    def __init__(self, *args, mechanism: DPGAN, public, gp_weight: float, n_critic: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.mechanism, self.public, self.gp_weight, self.n_critic = mechanism, public, gp_weight, n_critic
        self.layerwise = False  # the gradient penalty's double backward needs vmap(grad)
        self.last_bounds: list[float] = []

    def pair_loss(self, call, x, y, c, fake, y_fake, c_fake, alpha) -> torch.Tensor:
        """One pair's critic loss: WGAN's D(fake) - D(real) plus its own gradient penalty (Algorithm 1,
        line 7: lambda (||grad D(x_hat)|| - 1)^2 on x_hat = alpha x + (1 - alpha) fake)."""
        loss = super().pair_loss(call, x, y, c, fake, y_fake, c_fake)
        x_hat = alpha * x + (1 - alpha) * fake
        slope = torch.func.grad(lambda inp: call(one_record(inp), one_record(y), one_record(c)).sum())(x_hat)
        return loss + self.gp_weight * (slope.flatten().norm(2) - 1).pow(2)

    def per_pair(self, x, y, c, fake, y_fake, c_fake):
        """Each pair with its own interpolation weight alpha (the logged d_loss includes the penalty)."""
        alpha = torch.rand(x.shape[0], *([1] * (x.dim() - 1)), device=x.device, dtype=x.dtype)
        return per_sample_gradients(self.D, self.pair_loss, (x, y, c, fake, y_fake, c_fake, alpha))

    def clipping(self, grads) -> tuple[list[list[str]], list[float], float]:
        m = self.mechanism
        if m.adaptive_clip:
            per_param = self.public_bounds()
            groups = m.groups_for(self.order, per_param)
            bounds = [m.group_bound_of([per_param[n] for n in g]) for g in groups]
        else:
            groups = m.groups_for(self.order, None)
            bounds = [self.max_grad_norm / math.sqrt(len(groups))] * len(groups)  # together: C
        self.last_bounds = bounds
        return groups, bounds, m.group_noise_multiplier

    def public_bounds(self) -> dict[str, float]:
        """Each parameter's bound: its average per-sample gradient norm on a batch of public records, each
        paired with a generated one as the private records are (Section 4.2)."""
        images, labels = self.public
        idx = torch.randint(0, images.shape[0], (self.mechanism.public_batch_size,), device=images.device)
        x, y = images[idx], (labels[idx] if self.conditional else None)
        y_fake = self.fake_labels(x, None)
        with torch.no_grad(), frozen_statistics(self.G):  # G learns only in its sanitized step
            fake = self.G(self.noise(x), y_fake, None)
        grads, _ = self.per_pair(x, y, None, fake, y_fake, None)
        norms = group_norms(grads, [[n] for n in self.order]).mean(0)
        return {n: float(v) for n, v in zip(self.order, norms)}

    def __call__(self, real, labels, codes):
        if not self.mechanism.warm_started:
            self.warm_start()
        return super().__call__(real, labels, codes)

    def warm_start(self) -> None:
        """Section 4.3: `warm_start_steps` plain WGAN-GP steps (n_critic critic batches and a G update each, as
        the private steps) on public batches, with their own optimizers."""
        m = self.mechanism
        m.warm_started = True
        if not m.warm_start_steps:
            return
        from ..regularizers.gradient_penalty import GradientPenalty

        plain = PublicWarmStartStep(
            self.G,
            self.D,
            torch.optim.Adam(self.G.parameters(), lr=self.opt_g.defaults["lr"], betas=self.opt_g.defaults["betas"]),
            torch.optim.Adam(self.D.parameters(), lr=self.opt_d.defaults["lr"], betas=self.opt_d.defaults["betas"]),
            self.objective,
            GradientPenalty(weight=self.gp_weight, batchnorm_to_layernorm=False),
            self.z_dim,
            self.conditional,
            0,
            self.n_classes,
        )
        images, labels = self.public
        for _ in range(m.warm_start_steps):  # each: n_critic critic batches, then G (the improved WGAN's loop)
            idx = torch.randint(0, images.shape[0], (self.n_critic, self.batch_size), device=images.device)
            plain(images[idx], labels[idx], torch.zeros_like(labels[idx]))

    def accounted_noise_multiplier(self, n_groups: int) -> float:
        return self.mechanism.noise_multiplier  # sigma / sqrt(k), fixed when the groups' count was


class DPGAN(DPSGD):
    capturable = False

    def __init__(
        self,
        n_groups_clip: int | str = 1,
        adaptive_clip: bool = False,
        group_bound: str = "l2",
        public_batch_size: int = 64,
        warm_start_steps: int = 0,
        **dpsgd,
    ):
        """`dpsgd`: DPSGD's keys but grad_sample (always torch.func here); noise_multiplier is the paper's sigma."""
        grad_sample = dpsgd.pop("grad_sample", "fast")
        if grad_sample != "fast":
            raise ConfigError(
                "grad_sample",
                "dp-GAN's per-sample gradient penalty (a double backward) needs torch.func: only fast, got "
                f"{grad_sample!r}",
            )
        super().__init__(**dpsgd, grad_sample="fast")
        if not (n_groups_clip in GROUPINGS or (isinstance(n_groups_clip, int) and n_groups_clip >= 1)):
            raise ConfigError(
                "n_groups_clip", f"must be a positive integer, by_layer or weight_bias, got {n_groups_clip!r}"
            )
        if isinstance(n_groups_clip, int) and n_groups_clip >= 2 and not adaptive_clip:
            raise ConfigError(
                "n_groups_clip",
                f"{n_groups_clip} groups by clustering need each parameter's clipping bound, which adaptive "
                "clipping estimates: set privacy.adaptive_clip=true (with public data), or use by_layer / weight_bias",
            )
        if group_bound not in GROUP_BOUNDS:
            raise ConfigError("group_bound", f"must be one of {', '.join(GROUP_BOUNDS)}, got {group_bound!r}")
        for key, value, least in (
            ("public_batch_size", public_batch_size, 1),
            ("warm_start_steps", warm_start_steps, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(key, f"must be an integer >= {least}, got {value!r}")
        self.n_groups_clip, self.adaptive_clip, self.group_bound = n_groups_clip, bool(adaptive_clip), group_bound
        self.public_batch_size, self.warm_start_steps = public_batch_size, warm_start_steps
        self.uses_public_data = self.adaptive_clip or warm_start_steps > 0
        self.group_noise_multiplier: float | None = None
        self.n_groups: int | None = None
        self.warm_started = False
        self.step: DPGANStep | None = None

    def check(self, n_members: int, trainer, regularizer=None, **setting) -> None:
        from ..objectives.wasserstein import Wasserstein

        if regularizer is None or regularizer.name != "gradient_penalty":
            raise ConfigError("regularizer", "dp-GAN is a WGAN-GP critic: use regularizer=gradient_penalty")
        if not isinstance(setting.get("objective"), Wasserstein):
            raise ConfigError("objective", "dp-GAN is a WGAN-GP critic: use objective=wasserstein")
        if self.uses_public_data and not setting.get("n_public"):
            what = "adaptive clipping" if self.adaptive_clip else "warm starting"
            raise ConfigError(
                "dataset.public_fraction",
                f"privacy.{'adaptive_clip' if self.adaptive_clip else 'warm_start_steps'}: {what} reads public "
                "records, and there are none: set dataset.public_fraction (the paper: 0.02)",
            )
        if getattr(trainer, "precision", "fp32") == "bf16":
            raise ConfigError("trainer.precision", "bf16 is not supported with DP training (use fp32 or tf32)")
        self.check_reachable(n_members, trainer, setting)

    def groups_for(self, order: list[str], bounds: dict[str, float] | None) -> list[list[str]]:
        if isinstance(self.n_groups_clip, int) and self.n_groups_clip >= 2:
            return cluster_bounds(bounds, self.n_groups_clip)
        return fixed_groups(order, self.n_groups_clip)

    def group_bound_of(self, bounds: list[float]) -> float:
        return math.sqrt(sum(b * b for b in bounds)) if self.group_bound == "l2" else sum(bounds) / len(bounds)

    def make_step(self, G, D, objective, regularizer, ctx: StepContext):
        order = [n for n, p in D.named_parameters() if p.requires_grad]
        k = self.n_groups_clip
        # the groups formed: clustering makes at most one group per parameter tensor
        self.n_groups = min(k, len(order)) if isinstance(k, int) else len(fixed_groups(order, k))
        self.plan(ctx)  # the accounted multiplier, from the target epsilon unless given
        self.group_noise_multiplier = self.noise_multiplier * math.sqrt(self.n_groups)
        self.step = self.fast_step(
            DPGANStep,
            G,
            D,
            objective,
            regularizer,
            ctx,
            self.group_noise_multiplier,
            mechanism=self,
            public=ctx.public,
            gp_weight=regularizer.weight,
            n_critic=ctx.n_critic,
        )
        return self.step

    def from_given(self, noise_multiplier: float) -> float:
        return accounted_noise_multiplier(noise_multiplier, self.n_groups or 1)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            n_groups_clip=self.n_groups_clip,
            n_groups=self.n_groups,
            group_noise_multiplier=self.group_noise_multiplier,
            adaptive_clip=self.adaptive_clip,
            group_bound=self.group_bound if self.adaptive_clip else None,
            last_clip_bounds=[round(b, 6) for b in self.step.last_bounds] if self.step else [],
            warm_start_steps=self.warm_start_steps,
            noise_draw="once, N(0, (sigma c_j)^2 I), on each group's clipped sum (Algorithms 1/3 write the noise per "
            "sample gradient before summing; the sum's law is the same up to the noise's scale, and the accountant is "
            "charged for this one draw)",
            sensitivity=(
                "group j clipped to c_j and noised N(0, (sigma c_j)^2); the accountant is charged "
                "noise_multiplier = group_noise_multiplier / sqrt(n_groups) (docs/privacy.md)"
            ),
        )
        out.pop("grad_sample", None)
        return out
