"""The run folder: what a job leaves behind, where, and which job it belongs to (docs/results.md).

    .hydra/               Hydra's record of the training job (a re-attack's is .hydra-attack/; each is written
                          to .hydra-pending-<pid>/ and renamed once the job holds the folder and is accepted)
    status.json           running | completed | collapsed | failed | ..., the stage and a message
    job.json              the resolved config of the job this folder belongs to
    membership.npz        member_idx, nonmember_idx and the index sets attacks drew
    checkpoints/last.pt   the trained models, the mechanism's state and record, the loss history
    checkpoints/resume.pt while training: what a restarted job resumes from
    checkpoints/gradient_canaries.npz   the white-box audit's canary scores, kept with the model they were scored on
    history.csv           the loss history, readable without unpickling a checkpoint
    scores/<attack>.npz   scores, is_member, record_idx, threshold
    results.json          every figure (schema: results.py)
    plots/                roc.png, score_hist.png, samples.png

A job is resumed or skipped only in its own folder. Its identity is the resolved config without the keys
that say how it runs rather than what it computes, so a requeued job may land on another device or log
elsewhere and still be the same job. A folder that holds another job's work (a sweep re-run with other
seeds or overrides into the same folder) is refused before anything in it is touched.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import logging
import os
import re
import shutil
import socket
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from .errors import ConfigError, DatasetNotFoundError, RunFolderError

#: keys that change how a job runs, not what it computes
EXECUTION_KEYS = (
    "name",  # a label: two experiments that compute the same thing are the same job
    "stages",
    "resume",
    "check_only",
    "logger",
    "dataset.root",
    "dataset.download",
    "trainer.device",
    "trainer.progress",
    "trainer.log_every",
    "trainer.checkpoint_every",
    "trainer.cuda_graph",
    "trainer.warmup_steps",
    "trainer.threads",
    "trainer.channels_last",
)
#: what the attack and evaluate stages use: a trained model may be re-attacked with other lists
EVALUATION_KEYS = ("attack", "metric")
JOB_FILE = "job.json"
#: what a re-attack may write in a run folder: restored as it was when the re-attack fails
REATTACK_WRITES = ("status.json", "results.json", "membership.npz", "scores", "plots", "audit", ".hydra-attack")
REATTACK_BACKUP = ".reattack-backup"
MANIFEST = ".complete"
log = logging.getLogger("privgan_runner")
TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # io._atomic's tempfile names: .<name>.<8 random>.tmp


class RunFolder:
    """Paths and small records of one run folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.status_file = self.path / "status.json"
        self.job_file = self.path / JOB_FILE
        self.results_file = self.path / "results.json"
        self.membership_file = self.path / "membership.npz"
        self.last_checkpoint = self.path / "checkpoints" / "last.pt"
        self.resume_checkpoint = self.path / "checkpoints" / "resume.pt"
        self.history_file = self.path / "history.csv"
        self.scores_dir = self.path / "scores"
        self.plots_dir = self.path / "plots"
        self.canary_scores_file = self.path / "audit" / "canary_scores.npz"  # the one-run audit's signal
        # the white-box audit's canaries, scored during training (written with the model, read by every audit)
        self.gradient_canaries_file = self.path / "checkpoints" / "gradient_canaries.npz"

    def scores_file(self, attack: str) -> Path:
        return self.scores_dir / f"{attack}.npz"

    def write_status(self, status: str, stage: str, message: str = "") -> None:
        """status.json, naming this process (the lock's holder, for a job refused by the lock)."""
        from .io import write_json

        record = {
            "status": status,
            "stage": stage,
            "message": message,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        try:
            write_json(self.status_file, record)
        except OSError:  # a full disk: a new file cannot be made, but the old one's space can be written over
            if not self.status_file.is_file():
                raise
            with open(self.status_file, "r+") as f:
                f.truncate(0)
                f.write(json.dumps({**record, "message": message[:2000]}, indent=2) + "\n")
                f.flush()
                os.fsync(f.fileno())

    @contextmanager
    def stage(self, name: str, record_failure: Callable[[Exception, str, str], None], announce: bool = True):
        """One stage of an accepted job, the one place its outcome reaches status.json: `running`/name on entry
        (`announce`); on the way out a refusal (ConfigError, DatasetNotFoundError) is `failed` with its message,
        Ctrl-C or SIGTERM `interrupted` (started again, the job resumes), anything else `failed` with its
        traceback, recorded by `record_failure(exc, stage, message)` (the job's results.json and status.json).
        A fault that fails the record too (a full disk) is logged and status.json gets what still fits."""
        if announce:
            self.write_status("running", name)
        try:
            yield
        except (ConfigError, DatasetNotFoundError) as exc:
            self.write_status("failed", name, str(exc))
            raise
        except KeyboardInterrupt as exc:
            self.write_status("interrupted", name, getattr(exc, "signal_name", "KeyboardInterrupt"))
            raise
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            try:
                record_failure(exc, name, message)
            except OSError as write_error:
                log.error("%s: the failure could not be recorded in full: %s", self.path, write_error)
                with suppress(OSError):  # status.json is small: it may still fit
                    self.write_status("failed", name, f"{message}\nrecording it failed: {write_error}")
            raise

    @contextmanager
    def refusals(self, stage: str, record: bool = True):
        """Checks before a job is accepted: a refusal (ConfigError, DatasetNotFoundError) leaves status.json
        `failed` naming `stage` and why (`record`: False for a job that is only checked, which writes nothing).
        In a folder no job has trained in, Hydra's record of the refused job is kept as `.hydra`, so a sweep's
        report still sees the job with its configuration; a folder that holds a trained job keeps its record."""
        try:
            yield
        except (ConfigError, DatasetNotFoundError) as exc:
            if record:
                self.path.mkdir(parents=True, exist_ok=True)
                if not self.job_file.exists():
                    self.adopt_record(trains=True)
                self.write_status("failed", stage, str(exc))
            raise

    def pending_record(self) -> Path:
        """Where Hydra recorded this process's job (config.hydra_record_folder)."""
        return self.path / f".hydra-pending-{os.getpid()}"

    def adopt_record(self, trains: bool) -> None:
        """The accepted job's Hydra record becomes the folder's: `.hydra` for training, `.hydra-attack` for a
        re-attack (the training job's `.hydra` stays)."""

        pending = self.pending_record()
        if not pending.is_dir():  # run outside Hydra: no record to adopt
            return
        target = self.path / (".hydra" if trains else ".hydra-attack")
        if target.exists():
            shutil.rmtree(target)
        pending.rename(target)

    def remove_stale_temporaries(self) -> list[Path]:
        """Temporary files of atomic writes (io.py) that a killed writer left; called by the job holding the
        folder's lock, so no writer of them is alive."""
        stale = [p for p in self.path.rglob(".*.tmp") if p.is_file() and TEMPORARY.match(p.name)]
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def drop_pending_record(self) -> None:
        """A refused or skipped job leaves no record behind."""

        shutil.rmtree(self.pending_record(), ignore_errors=True)

    def lock(self) -> FolderLock:
        """Hold this folder for the job (FolderLock); raises RunFolderError while another process holds it."""
        return FolderLock(self).acquire()

    def status(self) -> dict | None:
        return _read(self.status_file)

    def held(self) -> bool:
        """Whether a process holds this folder's lock (FolderLock): a job is at work in it."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def state(self) -> str:
        """The job's state word: status.json's, with `running` read as `stale` when no process holds the folder
        (the job was killed)."""
        word = (self.status() or {}).get("status", "unknown")
        return "stale" if word == "running" and not self.held() else word

    def results(self) -> dict | None:
        return _read(self.results_file)

    def job_config(self) -> dict | None:
        """The resolved config of the job that trained here (job.json, else results.json's)."""
        return ((_read(self.job_file) or {}).get("config")) or ((self.results() or {}).get("config"))

    def write_results(self, results: dict) -> None:
        from .io import write_json

        write_json(self.results_file, results)

    def write_history(self, history: list[dict[str, float]]) -> None:
        from .io import write_text

        columns = list(dict.fromkeys(k for row in history for k in row))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)
        write_text(self.history_file, text.getvalue())

    def history(self) -> list[dict[str, float]]:
        if not self.history_file.is_file():
            return []
        rows = csv.DictReader(self.history_file.read_text().splitlines())
        return [{k: (int(v) if k == "step" else float(v)) for k, v in row.items() if v != ""} for row in rows]

    @contextmanager
    def reattack_transaction(self):
        """A re-attack as a transaction: a copy of everything a re-attack may write (REATTACK_WRITES) is kept in
        .reattack-backup/ while it runs; if it raises (a failed attack, a refusal, Ctrl-C or SIGTERM) the folder
        gets those files back byte for byte and loses any it added; if it succeeds the copy goes. A re-attack
        killed outright leaves the copy, and the next job to hold the folder puts it back first
        (`recover_interrupted_reattack`)."""
        self.recover_interrupted_reattack()
        backup = self.path / REATTACK_BACKUP
        backup.mkdir()
        present = [name for name in REATTACK_WRITES if (self.path / name).exists()]
        for name in present:
            source = self.path / name
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, backup / name)
        (backup / MANIFEST).write_text(json.dumps(present))  # last: a backup without it was never complete
        try:
            yield
        except BaseException:
            self.recover_interrupted_reattack()
            raise
        shutil.rmtree(backup)

    def recover_interrupted_reattack(self) -> bool:
        """Put back what an unfinished re-attack changed (its complete backup); returns whether there was one."""
        backup = self.path / REATTACK_BACKUP
        if not backup.is_dir():
            return False
        manifest = backup / MANIFEST
        if manifest.is_file():  # the backup was complete: the re-attack may have written; restore
            present = json.loads(manifest.read_text())
            for name in REATTACK_WRITES:
                target = self.path / name
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
                if name in present:
                    (backup / name).rename(target)
        shutil.rmtree(backup)  # an incomplete backup: the re-attack had written nothing yet
        return True

    def drop_scores_except(self, attacks) -> list[str]:
        """Remove saved scores of attacks not in `attacks` (a re-attack with another list); returns their names."""
        keep = set(attacks)
        stale = [f for f in self.scores_dir.glob("*.npz") if f.stem not in keep] if self.scores_dir.is_dir() else []
        for f in stale:
            f.unlink()
        return sorted(f.stem for f in stale)


class FolderLock:
    """An OS lock (flock) on the run folder itself, held while a job works in it.

    A second process on the same folder -- a requeued job while the old one still runs, a sweep started
    twice -- is refused at once, naming the holder's pid and host from status.json, and touches nothing.
    The kernel drops the lock when its holder dies (SIGKILL included), so a killed job's folder is taken
    over by the next one, as a requeue needs. flock on a network file system may be local to one host:
    two hosts on one NFS folder are not excluded."""

    def __init__(self, folder: RunFolder):
        self.folder, self.fd = folder, None

    def acquire(self) -> FolderLock:
        fd = os.open(self.folder.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = self.folder.status() or {}
            who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
            raise RunFolderError(
                f"run folder {self.folder.path}",
                f"another job is running in it ({who}, {holder.get('status', '?')} at stage "
                f"{holder.get('stage', '?')} since {holder.get('time', '?')}): wait for it, stop it, or choose "
                "another hydra.run.dir",
            ) from None
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the lock
            self.fd = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def identity(config: dict, training_only: bool) -> dict[str, Any]:
    """The config's flat keys that define the job (with `training_only`, those that define the trained model)."""
    dropped = EXECUTION_KEYS + (EVALUATION_KEYS if training_only else ())
    return {
        k: v
        for k, v in _flat(json.loads(json.dumps(config, default=str))).items()
        if not any(k == d or k.startswith(d + ".") for d in dropped)
    }


def find_runs(paths) -> list[Path]:
    """Every folder below `paths` holding a status.json (a job that started), a re-attack's backup copy aside."""
    runs = set()
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such run folder or sweep folder")
        found = [path] if (path / "status.json").is_file() else [p.parent for p in path.rglob("status.json")]
        found = [p for p in found if REATTACK_BACKUP not in p.parts]  # a re-attack's copy is no run
        runs.update(found)
    return sorted(runs)


def training_identity(config: dict) -> dict[str, Any]:
    """What a trained model depends on, without the seed: equal for a run and its shadow models."""
    out = identity(config, training_only=True)
    out.pop("seed", None)
    return out


def differences(old: dict, new: dict, most: int = 6) -> str:
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k, "<unset>") != new.get(k, "<unset>"))
    text = "; ".join(f"{k}: {old.get(k, '<unset>')!r} -> {new.get(k, '<unset>')!r}" for k in keys[:most])
    return text + (f"; and {len(keys) - most} more" if len(keys) > most else "")


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None


def check_run_folder(run_dir: Path, config: dict, trains: bool, resume: bool) -> dict | None:
    """results.json of this very job when it already finished (not to be run again), else None.

    Raises RunFolderError when the folder holds another job's model or results."""
    results = _read(run_dir / "results.json")
    job = _read(run_dir / JOB_FILE)
    previous = (job or {}).get("config") or (results or {}).get("config")
    if previous is None or (trains and not resume):  # a fresh folder, or a fresh run asked for
        return None
    where = f"run folder {run_dir}"
    before, now = identity(previous, training_only=True), identity(config, training_only=True)
    if before != now:
        raise RunFolderError(
            where,
            f"holds another job ({differences(before, now)}). Jobs resume or skip only "
            "in their own folder: choose a new hydra.run.dir / hydra.sweep.dir, or pass "
            "resume=false to train this job here from scratch.",
        )
    finished = results if results and results.get("status") in ("completed", "collapsed") else None
    if not trains or finished is None:
        return None
    before, now = identity(finished.get("config") or previous, False), identity(config, False)
    if before != now:
        raise RunFolderError(
            where,
            f"holds this job's trained model, attacked and evaluated with other lists "
            f"({differences(before, now)}): run stages=[attack,evaluate] here to attack it "
            "again without retraining.",
        )
    return finished


def record_job(run_dir: Path, config: dict) -> None:
    """Written when training starts: the job this folder belongs to."""
    from .io import write_json

    write_json(run_dir / JOB_FILE, {"config": config})
