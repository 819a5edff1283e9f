"""The logger kind: `start` once, `log` training scalars, `finish` with the results (always called)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class Logger:
    name: str = ""

    def start(self, run_dir: Path, config: dict[str, Any]) -> None:
        pass

    def log(self, values: dict[str, float], step: int) -> None:
        pass

    def finish(self, results: dict[str, Any], run_dir: Path) -> None:
        pass
