"""The evaluate stage: every configured metric on the trained GAN; returns results.json's `metrics`. Writes
nothing of its own (a metric's cache is keyed by content: metrics/)."""

from __future__ import annotations


def compute_metrics(parts, trained) -> dict:
    metrics: dict = {}
    for metric in parts.metrics:
        metrics.update(metric.compute(trained))
    return metrics
