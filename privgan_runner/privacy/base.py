"""The privacy-mechanism kind: how the GAN is built, trained and read by the attacks.

A mechanism decides
- the models: `build_models` (PIGAN adds the membership code c to G and D; PrivGAN builds N pairs),
- the members' codes: `member_codes` (PIGAN's random partition into N groups; zeros otherwise),
- the training step: `make_step` (DP-SGD replaces the D update, PIGAN adds its classifier Q),
- what the attacks see: `d_views` (D's outputs per code / per discriminator; attacks take the max),
- what it guarantees: `describe`, results.json's "privacy" entry.
"""

from __future__ import annotations

from typing import Any

import torch

from ..training.step import AdversarialStep, StepContext, full_steps_per_epoch


class PrivacyMechanism:
    name: str = ""
    #: the step it makes can be captured as a CUDA graph
    capturable: bool = True
    #: membership codes G and D are conditioned on (0 = none)
    n_codes: int = 0
    #: D is released with G (attacks may read it); GS-WGAN and DPAC release G only
    releases_discriminator: bool = True
    #: reads the public records (dataset.public_fraction); results.json dataset.public_used says whether any did
    uses_public_data: bool = False
    #: where the audit's gradient canaries enter the sanitized channel (audit/gradient.py), in words; None: this
    #: mechanism has no sanitized channel to plant them in, and `audit.gradient_canaries` is refused
    canary_entry: str | None = None
    #: the audit's gradient canaries of this run (set before training when the audit plants them)
    gradient_canaries = None

    def canary_capacity(self, model, image_size: int, channels: int, n_classes: int) -> int:
        """The most gradient canaries the sanitized channel holds (distinct coordinates in its largest tensor)."""
        return 0

    def check(self, n_members: int, trainer, regularizer=None, **setting) -> None:
        """Refuse (ConfigError) a setting this mechanism cannot train, before any work. `setting`: the run's
        objective, n_public (public records set aside) and conditional (the model takes class labels)."""

    def steps_per_epoch(self, n_members: int, batch_size: int, n_critic: int) -> int:
        """G steps that make one epoch: n_critic full member batches each (PrivGAN: a pass over 1/N of them)."""
        return full_steps_per_epoch(n_members, batch_size, n_critic)

    def build_models(self, model, image_size: int, channels: int, n_classes: int):
        return model.build(image_size, channels, n_classes, n_codes=self.n_codes)

    def member_codes(self, n_members: int, seed: int, record_ids=None) -> torch.Tensor:
        """Each member's code. `record_ids`: the members' pool indices (their identities), for a mechanism whose
        codes must not move when another record is added or removed (GS-WGAN's discriminator subsets)."""
        return torch.zeros(n_members, dtype=torch.long)

    def make_step(self, G, D, objective, regularizer, ctx: StepContext) -> AdversarialStep:
        return AdversarialStep.for_context(ctx, G, D, objective, regularizer, self.n_codes)

    def on_epoch(self, epoch: int) -> None:
        """Called at the start of every training epoch (PIGAN switches its privacy term on after K)."""

    def progress(self) -> dict[str, str]:
        """What the progress bar shows beside the losses (DP-SGD: the epsilon spent so far)."""
        return {}

    @torch.no_grad()
    def d_views(self, D, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """D's raw outputs as the attacker reads them: [batch, views] (one view per code c)."""
        if not self.n_codes:
            return D(x, y).unsqueeze(1)
        return torch.stack([D(x, y, torch.full((x.shape[0],), k, device=x.device)) for k in range(self.n_codes)], 1)

    def generator_codes(self, n: int, generator: torch.Generator) -> torch.Tensor | None:
        """Codes for sampling from G: uniform over the codes (None without codes)."""
        return torch.randint(0, self.n_codes, (n,), generator=generator) if self.n_codes else None

    def state(self) -> dict[str, Any]:
        """Extra tensors to checkpoint (e.g. PIGAN's Q)."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"mechanism": self.name, "epsilon": None, "delta": None}
