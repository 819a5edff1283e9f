"""The metric kind: `compute(trained)` -> a dict merged into results.json's "metrics".

A figure that cannot be computed is None with a sibling "<name>_reason".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..artifacts import TrainedGAN


class Metric:
    name: str = ""
    #: the figures `compute` returns, described (results.json's `figures`; console, report and W&B read them)
    figures: tuple = ()

    def compute(self, trained: TrainedGAN) -> dict[str, Any]:
        raise NotImplementedError
