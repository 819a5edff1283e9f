"""What a sweep ends with (a Hydra callback, conf/config.yaml `hydra.callbacks`): one screen -- how many jobs
completed, collapsed, failed or did not finish, the failed ones with their stage and message -- and the
command that writes the sweep's report. It reads the sweep folder only; it never fails the sweep."""

from __future__ import annotations

import logging
import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("privgan_runner")


def summary(sweep: Path) -> str:
    """The one-screen summary of the run folders under `sweep`."""
    from ..run_folder import RunFolder, find_runs
    from .collect import flatten

    runs = [flatten(run) for run in find_runs([sweep])]
    counts = Counter(str(row["status"]) for row in runs)
    lines = [f"sweep {sweep}: {len(runs)} jobs -- " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))]
    for row in runs:
        if row["status"] not in ("completed", "collapsed"):
            status = RunFolder(row["run"]).status() or {}
            lines.append(f"  {row['status']:<12} {row['run']}: stage {status.get('stage', '?')}, {_first_line(status)}")
    command = f"python -m privgan_runner.report {shlex.quote(str(sweep))}"
    lines.append(f"report: {command}   (writes {sweep / 'report'}/report.md, report.csv and plots)")
    return "\n".join(lines)


def _first_line(status: dict) -> str:
    message = str(status.get("message") or "no message").strip().splitlines()
    return message[0][:160] if message else "no message"


class SweepSummary(Callback):
    """Prints `summary` of the sweep folder when a multirun ends. Hydra calls on_multirun_end once, in the
    launching process, after every job -- but not when a job raised (a refused job in a sweep does), so the
    command line (`__main__.cli`) asks for the summary of a sweep that started and did not end
    (`print_unfinished`)."""

    started: Path | None = None  # the sweep folder of a multirun under way in this process

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        SweepSummary.started = Path(config.hydra.sweep.dir)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        SweepSummary.print_unfinished()

    @classmethod
    def print_unfinished(cls) -> None:
        sweep, cls.started = cls.started, None
        if sweep is None:
            return
        try:
            text = summary(sweep)
        except Exception as exc:  # a summary is a courtesy: the sweep's results stand without it
            log.warning("the sweep's summary could not be made: %s", exc)
            return
        print(text, file=sys.stdout, flush=True)
