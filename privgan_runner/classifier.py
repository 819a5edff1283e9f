"""The one classifier-training loop, for every classifier the runner trains: PIGAN's Q and PrivGAN's P
(pretraining on the members' groups), the domain backbone of the fidelity metrics, the utility metric's
CNN and LOGAN's attacker discriminator. Callers differ only in their batches and their loss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F


def shuffled_batches(
    X: torch.Tensor,
    Y: torch.Tensor,
    epochs: int,
    batch_size: int,
    device,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """`epochs` passes over (X, Y) in a fresh random order each, on `device`. The order is drawn from
    `generator` (on the CPU), or from the default generator on the device when it is None."""
    X, Y = X.to(device), Y.to(device)
    n = X.shape[0]
    last = n - batch_size + 1 if drop_last else n
    for _ in range(epochs):
        if generator is None:
            order = torch.randperm(n, device=device)
        else:
            order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, last, batch_size):
            idx = order[start : start + batch_size]
            yield X[idx], Y[idx]


def balanced_batches(
    positives: torch.Tensor, negatives: torch.Tensor, steps: int, half: int, device, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """`steps` batches of `half` positives and `half` negatives drawn with replacement, targets 1 / 0."""
    target = torch.cat([torch.ones(half), torch.zeros(half)]).to(device)
    for _ in range(steps):
        p = positives[torch.randint(0, len(positives), (half,), generator=generator)].to(device)
        n = negatives[torch.randint(0, len(negatives), (half,), generator=generator)].to(device)
        yield torch.cat([p, n]), target


def binary_logit_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.squeeze(1), target)


def train_classifier(
    clf: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> nn.Module:
    """Train `clf` on `batches` (inputs, targets); leaves it in eval mode."""
    clf.train()
    for x, y in batches:
        value = loss(clf(x), y)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
    return clf.eval()


@torch.no_grad()
def accuracy(clf: nn.Module, X: torch.Tensor, Y: torch.Tensor, device, batch: int = 512) -> float:
    """Share of records whose argmax class is their label (clf in eval mode)."""
    hits = sum(
        int((clf(X[i : i + batch].to(device)).argmax(1).cpu() == Y[i : i + batch].cpu()).sum())
        for i in range(0, X.shape[0], batch)
    )
    return hits / X.shape[0]
