"""What PIGAN and PrivGAN share: members split into N groups, a classifier of the group, a fooling loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ConfigError


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
    order = torch.randperm(n_members, generator=torch.Generator().manual_seed(seed + 7919))
    codes = torch.empty(n_members, dtype=torch.long)
    codes[order] = torch.arange(n_members) % n_groups
    return codes


def pretrain_classifier(Q, X: torch.Tensor, groups: torch.Tensor, trainer, device, epochs: int) -> float:
    """Train Q(x) -> group on the members for `epochs` epochs; returns its accuracy on them."""
    Q.to(device).train()
    opt = trainer.adam(Q.parameters(), device, capturable=False)
    n, b = X.shape[0], min(trainer.batch_size, X.shape[0])
    for _ in range(epochs):
        order = torch.randperm(n, device=device)
        for start in range(0, n - b + 1, b):
            idx = order[start : start + b]
            loss = F.cross_entropy(Q(X[idx]), groups[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        Q.eval()
        hits = sum(int((Q(X[i : i + 512]).argmax(1) == groups[i : i + 512]).sum()) for i in range(0, n, 512))
        Q.train()
    return hits / n


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
