"""Nearest-neighbour arithmetic shared by the sample-based attacks: exact fp32 Euclidean distances
(no TF32, no matmul expansion), chunked so memory stays bounded for any number of samples."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def _exact_fp32():
    cuda = torch.backends.cuda.matmul
    before = cuda.allow_tf32
    cuda.allow_tf32 = False
    try:
        yield
    finally:
        cuda.allow_tf32 = before


def _chunks(records: torch.Tensor, generated: torch.Tensor, chunk: int):
    for start in range(0, generated.shape[0], chunk):
        g = generated[start : start + chunk]
        yield torch.cdist(records, g, compute_mode="donot_use_mm_for_euclid_dist")


def min_distance(records: torch.Tensor, generated: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """For each record, the distance to its nearest generated sample."""
    with _exact_fp32():
        out = torch.full((records.shape[0],), float("inf"), device=records.device)
        for d in _chunks(records.float(), generated.float(), chunk):
            out = torch.minimum(out, d.min(1).values)
    return out


def share_within(
    records: torch.Tensor, generated: torch.Tensor, eps: torch.Tensor | float, chunk: int = 4096
) -> torch.Tensor:
    """For each record, the share of generated samples within distance eps (Hilprecht et al.'s f(x))."""
    with _exact_fp32():
        count = torch.zeros(records.shape[0], device=records.device)
        for d in _chunks(records.float(), generated.float(), chunk):
            count += (d <= eps).sum(1)
    return count / generated.shape[0]
