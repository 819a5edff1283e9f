"""Planted privacy bugs, and a tiny DP run audited by its gradient canaries (tests/test_audit_planted.py).

Each bug breaks a mechanism the way real implementations break, by patching the one function every record
AND every canary goes through (so the audit sees what the records get):
- noise_halved: the Gaussian noise drawn at half the claimed std (Opacus' noise routine, which every sanitized
  channel here draws from);
- clipping_off: the clip factor is 1 (per_sample.clip_factors, every clipping here);
- rate_underreported: the sampling rate the accountant is charged is half the rate records are drawn at
  (DP-SGD / dp-GAN: the step draws at twice the planned rate; GS-WGAN / DPAC: the accountant's 1/K says 1/(2K)
  while one of K discriminators is picked);
- summed_twice: a record's clipped contribution reaches the noise twice and is charged once -- the clipped sum
  (every record's and canary's share) accumulated twice before the noise is added, as a gradient hook that fires
  twice or two backward passes into one summed gradient do (DP-SGD / dp-GAN: D's clipped sum; GS-WGAN / DPAC: each
  sanitized row of G's gradient). Planted in the noise routine, which every sanitized sum is handed to;
- released_twice: each sanitized update is made twice -- a record enters two releases -- and the accountant is
  charged once (DP-SGD / dp-GAN: the D update on each sampled batch; GS-WGAN / DPAC: the whole step, a second
  discriminator picked). Its signal grows by sqrt(2), not 2: measured (scripts/planted_bugs.py), not asserted.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from privgan_runner.audit import fdp, gradient
from privgan_runner.pipeline import build_components, build_gan

from .conftest import compose_config

#: the protocol: full-batch steps (q = 1, so the claimed curve is exactly Gaussian) except where the bug needs a
#: rate below 1; 3 - 4.5 x 10^4 canaries (a one-run audit of a
#: Gaussian mechanism at epsilon 1 needs that many)
N_MEMBERS, STEPS = 32, 10
#: canaries per mechanism: D's largest tensor holds 32,768 (width 32), a 3 x 128 x 128 row 49,152
CANARIES = {"dpsgd": 30_000, "dpgan": 30_000, "gswgan": 49_000, "dpac": 49_000}
#: GS-WGAN's and DPAC's rate bug (accounted 1/2, run at 1) needs more canaries than a 128 x 128 row holds to be
#: caught at epsilon 1 in every run (49,000 caught it in 5 of 6 seeds): 3 x 256 x 256 rows, 190,000 canaries
WIDE = {"dataset.image_size=128": "dataset.image_size=256"}
WIDE_CANARIES = 190_000
WGAN_GP = ("objective=wasserstein", "regularizer=gradient_penalty", "objective.n_critic=1")
SETUPS = {
    "dpsgd": ("model.width=32", "privacy.grad_sample=fast"),
    "dpgan": ("model.width=32", *WGAN_GP),
    "gswgan": ("dataset.image_size=128", "dataset.channels=3", "model.width=8", *WGAN_GP, "privacy.n_discriminators=1"),
    "dpac": (
        "dataset.image_size=128",
        "dataset.channels=3",
        "model.width=8",
        "model.conditional=true",
        *WGAN_GP,
        "privacy.n_discriminators=1",
    ),
}
#: mechanisms whose records are drawn by a Poisson rate (the rate bug halves a rate of 1/2 there)
POISSON = ("dpsgd", "dpgan")
BUGS = ("noise_halved", "clipping_off", "rate_underreported", "summed_twice")
#: and one no one-run audit of this size catches at claims of 1 and 2 (a factor sqrt(2) on the signal, not 2):
#: measured by scripts/planted_bugs.py, not asserted
ALL_BUGS = (*BUGS, "released_twice")


def protocol(mechanism: str, bug: str | None, wide: bool | None = None) -> tuple[tuple[str, ...], int]:
    """(config overrides, canaries) of the run that audits `bug` in `mechanism`; `wide`: the 256 x 256 rows
    (default: for GS-WGAN's and DPAC's rate bug)."""
    if wide is None:
        wide = bug == "rate_underreported" and mechanism not in POISSON
    setup = SETUPS[mechanism]
    if not wide:
        return setup, CANARIES[mechanism]
    return tuple(WIDE.get(o, o) for o in setup), WIDE_CANARIES


@contextlib.contextmanager
def planted(bug: str | None, mechanism: str):
    from opacus.optimizers import optimizer as opacus_optimizer

    from privgan_runner.privacy import dpsgd, gswgan, per_sample

    patches = []
    if bug == "noise_halved":
        real = opacus_optimizer._generate_noise
        patches.append((opacus_optimizer, "_generate_noise", lambda std, *a, **k: real(std * 0.5, *a, **k)))
    elif bug == "summed_twice":  # every caller adds the noise to `reference`, the clipped sum: it gets it twice
        real = opacus_optimizer._generate_noise

        def summed_twice(std, reference, *args, **kwargs):
            return reference + real(std, reference, *args, **kwargs)

        patches.append((opacus_optimizer, "_generate_noise", summed_twice))
    elif bug == "clipping_off":
        patches.append((per_sample, "clip_factors", lambda norms, bounds, eps=1e-6: torch.ones_like(norms)))
    elif bug == "rate_underreported" and mechanism in POISSON:
        real_kwargs = dpsgd.DPSGD.step_kwargs

        def doubled(self, ctx):
            kwargs = real_kwargs(self, ctx)
            return {**kwargs, "sample_rate": 2 * kwargs["sample_rate"]}

        patches.append((dpsgd.DPSGD, "step_kwargs", doubled))
    elif bug == "rate_underreported":
        patches.append((gswgan.GSWGAN, "sample_rate", property(lambda self: 0.5 / self.n_discriminators)))
    elif bug == "released_twice":
        from privgan_runner.privacy import fast_dp_step

        if mechanism in POISSON:
            owner, name = fast_dp_step.FastDPStep, "d_update"
            silence = lambda step: (step.accountant, "step")  # noqa: E731
        else:
            owner, name = gswgan.GSWGANStep, "__call__"
            silence = lambda step: (step.mechanism, "charge")  # noqa: E731
        real_update = getattr(owner, name)

        def twice(self, *args):
            out = real_update(self, *args)
            target, attribute = silence(self)
            charge = getattr(target, attribute)
            setattr(target, attribute, lambda *a, **k: None)  # the second release goes uncharged
            try:
                real_update(self, *args)
            finally:
                setattr(target, attribute, charge)
            return out

        patches.append((owner, name, twice))
    elif bug is not None:
        raise ValueError(bug)
    saved = [
        (owner, name, owner.__dict__[name] if name in owner.__dict__ else getattr(owner, name))
        for owner, name, _ in patches
    ]
    try:
        for owner, name, value in patches:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def audited_run(
    mechanism: str, epsilon: float, bug: str | None, seed: int = 0, m: int | None = None, wide: bool | None = None
) -> dict:
    """Train `mechanism` at claimed `epsilon` for STEPS sanitized steps with m gradient canaries (and `bug`
    planted), at `protocol(mechanism, bug, wide)`; the audit's figures."""
    setup, canaries_planned = protocol(mechanism, bug, wide)
    m = canaries_planned if m is None else m
    batch = N_MEMBERS // 2 if bug == "rate_underreported" and mechanism in POISSON else N_MEMBERS
    cfg = compose_config(
        "dataset=synthetic",
        f"dataset.n_samples={2 * N_MEMBERS}",
        "model.z_dim=16",
        "trainer.progress=false",
        f"trainer.batch_size={batch}",
        f"trainer.epochs={STEPS}",
        f"privacy={mechanism}",
        f"privacy.epsilon={epsilon}",
        "audit=gradient",
        "audit.canaries=null",  # the white-box audit alone
        f"audit.gradient_canaries={m}",
        *setup,
    )
    parts = build_components(cfg)
    pool = parts.dataset.load()
    torch.manual_seed(seed)
    G, D = build_gan(parts, pool.n_classes)
    canaries = parts.audit.plant_gradient(parts.privacy, seed)
    with planted(bug, mechanism):
        parts.trainer.fit(
            G,
            D,
            parts.objective,
            parts.regularizer,
            pool.images[:N_MEMBERS],
            pool.labels[:N_MEMBERS],
            z_dim=parts.model.z_dim,
            conditional=parts.model.conditional,
            privacy=parts.privacy,
            codes=parts.privacy.member_codes(N_MEMBERS, seed),
            n_classes=pool.n_classes,
        )
        record = parts.privacy.describe()
    claim = {k: record[k] for k in ("accountant", "noise_multiplier", "sample_rate", "steps")}
    delta = record["delta"]
    tested = fdp.claim_test(canaries.scores, canaries.inside, claim, delta, 0.05)
    steinke = gradient.best_bound(canaries.scores, canaries.inside, delta, 0.05)
    return {
        "claimed_epsilon": record["epsilon"],
        "claim": claim,
        "claim_rejected": tested["claim_rejected"],
        "epsilon_lb_claimed_form": tested["epsilon_lb_claimed_form"],
        "epsilon_lb": steinke["epsilon_lb"],
        "steps_seen": canaries.steps,
        "entries": canaries.entries,
        "scores": np.asarray(canaries.scores),
    }
