"""The training checkpoint (checkpoints/resume.pt): what a killed or requeued job resumes from -- what is saved
(`training_state`), how it is read back (`Checkpoint.load`) and put back into the models, the step, the
mechanism and the random generators (`resume_training`)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import UnreadableFileError


class Checkpoint:
    """The periodic training checkpoint, kept one generation back: `save` moves the current file to
    `<name>.prev.pt` before writing the new one (atomically), so a file damaged after it was written (a
    filesystem fault, a copy cut short) still leaves the generation before it to resume from."""

    #: what a resume reads: a file without one of them is not this trainer's checkpoint
    REQUIRED = ("G", "D", "step", "privacy", "rng", "epoch", "done", "history")

    def __init__(self, path):
        self.path = Path(path)
        self.previous = self.path.with_suffix(".prev" + self.path.suffix)
        self.note = ""  # what `load` had to do beyond reading the current file

    def exists(self) -> bool:
        return self.path.is_file() or self.previous.is_file()

    def save(self, state: dict) -> None:
        from ..io import write_torch

        if self.path.is_file():
            os.replace(self.path, self.previous)
        write_torch(self.path, state)

    def load(self) -> dict:
        """The newest generation that reads back whole; UnreadableFileError when none does."""
        from ..io import read_torch

        failures = []
        for path in (self.path, self.previous):
            if not path.is_file():
                continue
            try:
                state = read_torch(path, self.REQUIRED)
            except Exception as exc:  # truncated zip, bad pickle, foreign file: all read as "unreadable"
                failures.append(f"{path}: {type(exc).__name__}: {exc}")
                continue
            if failures:
                self.note = f"{failures[0]}; resumed from the generation before it, {path}"
            return state
        raise UnreadableFileError(
            "resume",
            "no checkpoint of this job can be read:\n  "
            + "\n  ".join(failures)
            + "\nPass resume=false to train this job again from scratch (the unreadable files are replaced).",
        )

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self.previous.unlink(missing_ok=True)

    def __str__(self) -> str:
        return str(self.path)


def training_state(epoch: int, done: int, history, seconds: float, G, D, step, privacy) -> dict:
    """Everything a killed job needs to go on as if it had not stopped."""
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {
        "epoch": epoch,
        "done": done,
        "history": list(history),
        "seconds": seconds,
        "G": G.state_dict(),
        "D": D.state_dict(),
        "step": step.state_dict(),
        "privacy": privacy.state(),
        "rng": rng,
    }


def resume_training(checkpoint: Checkpoint, G, D, step, privacy) -> tuple[int, int, list, float]:
    """Puts a checkpoint's state back; returns (epoch, steps done, history, seconds trained so far)."""
    state = checkpoint.load()
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    step.load_state_dict(state["step"])
    privacy.load_state(state["privacy"])
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return state["epoch"], state["done"], state["history"], state.get("seconds", 0.0)
