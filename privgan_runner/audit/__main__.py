"""python -m privgan_runner.audit PATH... [--out FILE]: the multi-run audit over the run folders below PATH (see
multi_run).

Bad input is refused as the run command refuses it: one line naming the argument, exit 2, nothing written
(an argument out of range, a folder that does not exist or holds no audited runs, a target canary the runs do
not have, an output that cannot be written). The input folders are only read; the result goes to --out
(default: PATH/audit_multi_run.json).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io import write_json
from ..run_folder import RunFolder, find_runs, identity
from .multi_run import multi_run_bound

PROG = "python -m privgan_runner.audit"


def collect_trials(paths, target: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(scores, inside, config) of canary `target` in every finished run below `paths`, in the order of the
    runs' seeds (not of their folders' names); the runs must share their configuration but the seed (one
    trial per independent run). ConfigError naming the argument when they cannot be audited."""
    try:
        runs = find_runs(paths)
    except FileNotFoundError as exc:
        raise ConfigError("PATH", str(exc)) from None
    trials, configs, finished = [], {}, 0
    for run in runs:
        folder = RunFolder(run)
        results = folder.results() or {}
        if results.get("status") != "completed":
            continue
        finished += 1
        if not folder.canary_scores_file.is_file():
            continue
        with np.load(folder.canary_scores_file) as f:
            if not 0 <= target < len(f["scores"]):
                raise ConfigError("--target", f"{run} has canaries 0..{len(f['scores']) - 1}, not {target}")
            trials.append((results.get("seed", 0), str(run), float(f["scores"][target]), bool(f["canary_in"][target])))
        config = identity(results.get("config") or {}, training_only=False)
        config.pop("seed", None)
        configs[str(run)] = config
    where = ", ".join(map(str, paths))
    if finished and not trials:
        raise ConfigError(
            "PATH", f"{finished} finished run(s) under {where}, none with canaries: run them with audit=one_run"
        )
    if len(trials) < 4:
        raise ConfigError(
            "PATH",
            f"the multi-run audit needs at least 4 finished runs with canaries (audit=one_run), one trial each; "
            f"found {len(trials)} under {where}: run more seeds",
        )
    distinct = {json.dumps(c, sort_keys=True, default=str) for c in configs.values()}
    if len(distinct) > 1:
        raise ConfigError("PATH", "the runs differ in more than their seed: audit one configuration at a time")
    trials.sort()
    scores, inside = [s for _, _, s, _ in trials], [i for _, _, _, i in trials]
    return np.array(scores), np.array(inside), next(iter(configs.values()))


def run_delta(config: dict) -> float:
    """The runs' δ: audit.delta when set, else the mechanism's privacy.delta, else the audit's default."""
    from .auditor import DEFAULT_DELTA

    for key in ("audit.delta", "privacy.delta"):
        if isinstance(config.get(key), (int, float)) and not isinstance(config.get(key), bool):
            return float(config[key])
    return DEFAULT_DELTA


def _check_arguments(args) -> None:
    """The arguments' ranges, before any run is read."""
    if args.target < 0:
        raise ConfigError("--target", f"must be a canary index >= 0, got {args.target}")
    if args.n_attacks < 1:
        raise ConfigError("--n-attacks", f"must be >= 1 (the attacks and targets tried), got {args.n_attacks}")
    if not 0 <= args.seed < 2**63:
        raise ConfigError("--seed", f"must be an integer in [0, 2^63), got {args.seed}")
    if not 0 < args.alpha < 1:
        raise ConfigError("--alpha", f"must be in (0, 1), got {args.alpha}")
    if args.delta is not None and not (math.isfinite(args.delta) and 0 <= args.delta < 1):
        raise ConfigError("--delta", f"must be in [0, 1), got {args.delta}")
    out = args.out
    existing = next(p for p in (out.parent, *out.parent.parents) if p.exists())
    if out.is_dir() or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError("--out", f"{out} cannot be written (give --out a writable file path)")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__)
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--target", type=int, default=0, help="which canary is the target record (its index)")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--delta", type=float, default=None, help="default: the runs' audit.delta, else privacy.delta")
    p.add_argument(
        "--n-attacks", type=int, default=1, help="attacks and targets tried on these runs (alpha is divided)"
    )
    p.add_argument("--seed", type=int, default=0, help="the seed of the fit / held-out split of the trials")
    p.add_argument("--out", type=Path, default=None, help="the result's file (default: PATH/audit_multi_run.json)")
    args = p.parse_args(argv)
    args.out = args.out or args.paths[0] / "audit_multi_run.json"
    try:
        _check_arguments(args)
        scores, inside, config = collect_trials(args.paths, args.target)
        delta = args.delta if args.delta is not None else run_delta(config)
        out = {"target": args.target, **multi_run_bound(scores, inside, delta, args.alpha, args.n_attacks, args.seed)}
        write_json(args.out, out)
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as exc:  # a full disk: the runs are untouched
        print(f"{PROG}: error: the result could not be written to {args.out}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was written", file=sys.stderr)
        raise SystemExit(130) from None
    print(
        f"multi-run audit of canary {args.target}: {out['trials']} runs ({out['held_out_trials']} held out), "
        f"epsilon_lb = {out['epsilon_lb_cp']} (Clopper-Pearson, a lower bound) at confidence "
        f"{1 - args.alpha:g} / {args.n_attacks} attack(s) tried, delta {delta:g}; {out['epsilon_gdp_assumed']} if the "
        "mechanism's trade-off curve were Gaussian (GDP, not a bound); written to " + str(args.out)
    )
    return out


if __name__ == "__main__":
    main()
