"""Read a W&B run's transaction log (`run-*.wandb`): the record log W&B syncs from, in LevelDB's log
format (7-byte file header, 32 KiB blocks, 7-byte record headers) holding protobuf `Record`s."""

from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK, HEADER = 32768, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", "not a W&B transaction log"
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # block trailer: padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if kind == 0 and length == 0:
            break
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(pending)
            yield record


def complete_records(path: Path, timeout: float = 30.0) -> list:
    """The log's records once it holds the run's exit record (W&B's writer is a separate process): a log read
    while still being written would lack records. Seen twice on a loaded 2-core machine: the config missing
    from a log read right after run.finish(); that an unfinished log was the cause is not confirmed."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        found = list(records(path))
        if any(r.WhichOneof("record_type") == "exit" for r in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def config_and_summary(path: Path) -> tuple[dict, dict]:
    config, summary = {}, {}
    for r in complete_records(path):
        kind = r.WhichOneof("record_type")
        if kind in ("run", "config"):  # the run record carries the config given to wandb.init
            updates = r.run.config.update if kind == "run" else r.config.update
            config.update({i.key: json.loads(i.value_json) for i in updates})
        elif kind == "summary":
            summary.update({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.summary.update})
        elif kind == "history":
            summary.update({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item})
    return config, summary


def run_meta(path: Path) -> dict:
    """The run record's name, group and tags."""
    for r in complete_records(path):
        if r.WhichOneof("record_type") == "run":
            return {
                "name": r.run.display_name,
                "group": r.run.run_group,
                "tags": list(r.run.tags),
                "project": r.run.project,
            }
    return {}
