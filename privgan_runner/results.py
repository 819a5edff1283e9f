"""results.json's schema: what a run reports, typed (docs/results.md describes it in prose).

Figures describe themselves: every attack and metric lists its figures as `Figure`s (name, which
direction is better, whether it is a headline figure, its range and unit), and a run writes those
descriptions into results.json's `figures`. The console, W&B and the report read them from there, so
a new attack's figures reach all three without an edit anywhere else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypedDict


@dataclass(frozen=True)
class Figure:
    """One reported number. `higher_is_better`: True for an attack's strength or a sample quality that
    grows, False for a distance (FID), None where neither holds (a count, a threshold, a gap)."""

    name: str
    higher_is_better: bool | None = True
    headline: bool = False
    range: tuple[float, float] | None = None
    unit: str = ""
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["range"] = list(self.range) if self.range else None
        return out


def describe(figures, prefix: str = "") -> dict[str, dict[str, Any]]:
    """{"<prefix>.<name>": description} for results.json's `figures`."""
    return {(f"{prefix}.{f.name}" if prefix else f.name): f.as_dict() for f in figures}


class DatasetRecord(TypedDict, total=False):
    name: str
    n_members: int
    n_nonmembers: int
    pool_size: int
    image_size: int
    channels: int
    sha256: str  # content hash of the pool's images and labels
    n_public: int  # dataset.public_fraction's records (public_idx)
    public_used: bool  # whether the mechanism read them


class TrainRecord(TypedDict, total=False):
    steps: int
    epochs: int
    seconds: float
    device: str
    final: dict[str, float]  # the last logged window's mean losses
    message: str
    notes: list[str]
    precision: str  # fp32 | tf32 | bf16: what the step computed in (trainer.precision; tf32 is fp32 on a CPU)
    tf32: bool
    cuda_graph: bool


class PrivacyRecord(TypedDict, total=False):
    mechanism: str
    epsilon: float | None  # spent (DP), None for mechanisms without a DP guarantee
    delta: float | None


class Results(TypedDict, total=False):
    status: str  # running | completed | collapsed | failed
    experiment: str | None
    seed: int
    run_dir: str
    dataset: DatasetRecord
    train: TrainRecord
    privacy: PrivacyRecord  # written by training and kept by re-attacks
    attacks: dict[str, dict[str, Any]]  # attack name -> its figures (see attacks/figures.py)
    metrics: dict[str, Any]  # figure name -> value (None with a sibling "<name>_reason")
    figures: dict[str, dict[str, Any]]  # "<attack>.<figure>" / "<metric figure>" -> Figure.as_dict()
    versions: dict[str, str]
    config: dict[str, Any]  # the resolved config
    error: str
    failed_stage: str
    attacks_reason: str
    audit: dict[str, Any]  # accountant_epsilon, delta, one_run {..., epsilon_lb}, descriptive {attack: {...}}
