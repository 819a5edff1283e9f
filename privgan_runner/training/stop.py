"""Stopping a job on a signal: a first SIGTERM while training ends the epoch under way after a checkpoint; any
other is at once (errors.Interrupted). Either way status.json says `interrupted` and the job resumes when
started again."""

from __future__ import annotations

from contextlib import contextmanager

from ..errors import Interrupted


class StopRequest:
    """A request to stop that a signal handler makes while training runs: the trainer finishes the epoch
    under way, saves a checkpoint and raises errors.Interrupted, so a job stopped by its scheduler (SIGTERM,
    then a grace period before SIGKILL) loses no finished epoch. `training` says whether a trainer will
    honour it; outside training the handler stops the job at once."""

    def __init__(self):
        self.signal_name: str | None = None
        self.training = False


@contextmanager
def sigterm_interrupts():
    """Yields the StopRequest the trainer honours. A first SIGTERM during training asks it to stop at the end
    of its epoch, after a checkpoint; elsewhere, or a second time, SIGTERM raises Interrupted at once (as
    Ctrl-C raises KeyboardInterrupt). Either way status.json says `interrupted` and the lock is released.
    A handler already installed (submitit's, which requeues on preemption) is left in place, and so is
    everything outside the main thread."""
    import signal
    import threading

    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) not in (
        signal.SIG_DFL,
        None,
    ):
        yield stop
        return

    def interrupt(signum, frame):
        if stop.training and stop.signal_name is None:
            stop.signal_name = "SIGTERM"
            return
        raise Interrupted("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)
