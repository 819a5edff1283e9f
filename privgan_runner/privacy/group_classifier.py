"""What PIGAN and PrivGAN share: the members split into N groups, a classifier that learns which group a
generated record comes from (PIGAN's Q, PrivGAN's privacy discriminator P), pretrained on the members'
groups, held still for K warm-up epochs, and a generator trained to fool it (weight lam).
`GroupClassifierMechanism` is their base: the two differ in the models they build and their step."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..classifier import accuracy, shuffled_batches, train_classifier
from ..errors import ConfigError
from ..seeds import derive
from ..training.step import StepContext
from .base import PrivacyMechanism


def check_groups(lam, n_groups) -> None:
    if not isinstance(n_groups, int) or isinstance(n_groups, bool) or n_groups < 2:
        raise ConfigError("n_groups", f"must be an integer >= 2 (N membership groups), got {n_groups!r}")
    if not isinstance(lam, (int, float)) or isinstance(lam, bool) or lam < 0:
        raise ConfigError("lam", f"must be >= 0 (0 = no privacy penalty), got {lam!r}")


def check_epochs(**values) -> None:
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(key, f"must be an integer >= 0, got {value!r}")


def check_members(n_members: int, n_groups: int) -> None:
    if n_members < 2 * n_groups:
        raise ConfigError(
            "privacy.n_groups", f"{n_groups} groups need at least two members each; there are {n_members} members"
        )


def equal_groups(n_members: int, n_groups: int, seed: int) -> torch.Tensor:
    """A random partition of the members into n_groups equal groups (sizes differ by at most one)."""
    order = torch.randperm(n_members, generator=torch.Generator().manual_seed(derive(seed, "member_groups")))
    codes = torch.empty(n_members, dtype=torch.long)
    codes[order] = torch.arange(n_members) % n_groups
    return codes


def pretrain_classifier(Q, X: torch.Tensor, groups: torch.Tensor, ctx: StepContext, epochs: int) -> float:
    """Train Q(x) -> group on the members for `epochs` epochs (full batches); returns its accuracy on them."""
    batch = min(ctx.batch_size, X.shape[0])
    batches = shuffled_batches(X, groups, epochs, batch, ctx.device, drop_last=True)
    train_classifier(Q.to(ctx.device), batches, ctx.make_optimizer(Q.parameters(), capturable=False))
    hits = accuracy(Q, X, groups, ctx.device)
    Q.train()
    return hits


def fool_loss(logits: torch.Tensor, true_group: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Cross-entropy towards a random incorrect group: the generator's way of fooling the classifier
    (privGAN's reference implementation; PIGAN follows it)."""
    shift = torch.randint(1, n_groups, true_group.shape, device=true_group.device)
    return F.cross_entropy(logits, (true_group + shift) % n_groups)


@torch.no_grad()
def reset_optimizer_state(opt: torch.optim.Optimizer) -> None:
    """Zero every state tensor of `opt` (Adam's step count and moments) in place.

    A classifier held still by a zero loss still advances Adam's step count, and its first real update
    after the warm-up would be up to (1 - beta1) / sqrt(1 - beta2) ~ 16x a fresh one (beta1 0.5). Zeroing
    in place (not replacing the tensors) keeps a captured CUDA graph's pointers valid."""
    for state in opt.state.values():
        for value in state.values():
            if torch.is_tensor(value):
                value.zero_()


class WarmupSwitch:
    """The classifier's warm-up: its training (and, unless `penalty_during_warmup`, G's privacy term) is off
    for the first `warmup_epochs` epochs, gated by device scalars so a captured step stays one graph; at
    the switch the classifier's optimizer starts from a fresh state."""

    def __init__(self, warmup_epochs: int, penalty_during_warmup: bool, device):
        self.warmup_epochs, self.penalty_during_warmup = warmup_epochs, penalty_during_warmup
        self.train_on = torch.zeros((), device=device)  # multiplies the classifier's loss
        self.penalty_on = torch.zeros((), device=device)  # multiplies G's privacy term
        self.optimizer: torch.optim.Optimizer | None = None

    def on_epoch(self, epoch: int) -> None:
        after = epoch >= self.warmup_epochs
        self.train_on.fill_(1.0 if after else 0.0)
        self.penalty_on.fill_(1.0 if after or self.penalty_during_warmup else 0.0)
        if epoch == self.warmup_epochs and self.optimizer is not None:
            reset_optimizer_state(self.optimizer)


class GroupClassifierMechanism(PrivacyMechanism):
    """A group classifier that G fools. Subclasses build the models (`build_models`, which also builds
    `self.classifier`) and the step (`make_step`, after `prepare_classifier`)."""

    #: the classifier's name in checkpoints ("Q" for PIGAN, "P" for PrivGAN)
    classifier_key: str = "classifier"

    def __init__(
        self,
        lam: float = 1.0,
        n_groups: int = 2,
        pretrain_epochs: int = 50,
        warmup_epochs: int = 100,
        penalty_during_warmup: bool = True,
    ):
        check_groups(lam, n_groups)
        check_epochs(pretrain_epochs=pretrain_epochs, warmup_epochs=warmup_epochs)
        self.lam, self.n_codes = float(lam), n_groups
        self.pretrain_epochs, self.warmup_epochs = pretrain_epochs, warmup_epochs
        self.penalty_during_warmup = bool(penalty_during_warmup)
        self.classifier = None
        self.switch: WarmupSwitch | None = None
        self.pretrain_accuracy: float | None = None

    def check(self, n_members: int, trainer, regularizer=None, **setting) -> None:
        check_members(n_members, self.n_codes)

    def member_codes(self, n_members: int, seed: int, record_ids=None) -> torch.Tensor:
        return equal_groups(n_members, self.n_codes, seed)

    def prepare_classifier(self, ctx: StepContext) -> torch.optim.Optimizer:
        """Pretrain the classifier on the members' groups; returns its optimizer, held by the warm-up switch."""
        X, _, C = ctx.members
        self.pretrain_accuracy = pretrain_classifier(self.classifier, X, C, ctx, self.pretrain_epochs)
        self.switch = WarmupSwitch(self.warmup_epochs, self.penalty_during_warmup, ctx.device)
        self.switch.optimizer = ctx.make_optimizer(self.classifier.parameters())
        return self.switch.optimizer

    def on_epoch(self, epoch: int) -> None:
        if self.switch is not None:
            self.switch.on_epoch(epoch)

    def state(self) -> dict[str, Any]:
        return {self.classifier_key: self.classifier.state_dict()} if self.classifier is not None else {}

    def load_state(self, state: dict[str, Any]) -> None:
        if self.classifier is not None and self.classifier_key in state:
            self.classifier.load_state_dict(state[self.classifier_key])

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "lam": self.lam,
            "n_groups": self.n_codes,
            "pretrain_epochs": self.pretrain_epochs,
            "warmup_epochs": self.warmup_epochs,
            "penalty_during_warmup": self.penalty_during_warmup,
            "classifier_pretrain_accuracy": self.pretrain_accuracy,
        }
