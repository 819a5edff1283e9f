"""The losses of the steps not read back yet, and where divergence is decided."""

from __future__ import annotations

import torch


class LossWindow:
    """The losses of the steps not read back yet, kept on the device (a read-back synchronizes): `flush`
    reads them, and either appends their means to the history or, at the first non-finite loss or one
    beyond the divergence threshold, records where training collapsed."""

    def __init__(self, size: int, loss_names: tuple[str, ...], device, threshold: float, history: list[dict]):
        self.rows = torch.zeros(size, len(loss_names), device=device)
        self.loss_names, self.threshold, self.history = loss_names, threshold, history
        self.pending = 0
        self.collapse: tuple[int, str] | None = None  # (step, message)

    @property
    def full(self) -> bool:
        return self.pending == self.rows.shape[0]

    def add(self, losses: torch.Tensor) -> None:
        self.rows[self.pending].copy_(losses)
        self.pending += 1

    def flush(self, done: int, epoch: int) -> dict[str, float] | None:
        """The pending steps' mean losses (`done` = steps made so far), or None when one of them diverged."""
        rows, count = self.rows[: self.pending].cpu(), self.pending
        self.pending = 0
        finite = torch.isfinite(rows)
        bad = (~finite) | (rows.abs() > self.threshold)
        if bad.any():
            row, col = (int(v) for v in bad.nonzero()[0])
            name, value = self.loss_names[col], float(rows[row, col])
            what = (
                f"non-finite {name} ({value})"
                if not finite[row, col]
                else f"{name} = {value:.3g} beyond trainer.divergence_threshold ({self.threshold:g})"
            )
            step = done - count + row + 1
            self.collapse = (step, f"{what} at step {step} (epoch {epoch + 1})")
            return None
        means = dict(zip(self.loss_names, rows.mean(0).tolist()))
        self.history.append({"step": done, **means})
        return means
