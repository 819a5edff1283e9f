"""python -m privgan_runner.audit PATH...: the multi-run audit over the run folders below PATH (see multi_run)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..io import write_json
from ..run_folder import RunFolder, find_runs, identity
from .multi_run import multi_run_bound


def collect_trials(paths, target: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(scores, inside, config) of canary `target` in every finished run below `paths`, in the order of the
    runs' seeds (not of their folders' names); the runs must share their configuration but the seed (one
    trial per independent run)."""
    trials, configs = [], {}
    for run in find_runs(paths):
        folder = RunFolder(run)
        results = folder.results() or {}
        if results.get("status") != "completed" or not folder.canary_scores_file.is_file():
            continue
        with np.load(folder.canary_scores_file) as f:
            trials.append((results.get("seed", 0), str(run), float(f["scores"][target]), bool(f["canary_in"][target])))
        config = identity(results.get("config") or {}, training_only=False)
        config.pop("seed", None)
        configs[str(run)] = config
    trials.sort()
    scores, inside = [s for _, _, s, _ in trials], [i for _, _, _, i in trials]
    if len(scores) < 4:
        raise SystemExit(
            f"the multi-run audit needs at least 4 finished runs with canaries (audit=one_run), one trial each; "
            f"found {len(scores)} under {', '.join(map(str, paths))}: run more seeds"
        )
    distinct = {json.dumps(c, sort_keys=True, default=str) for c in configs.values()}
    if len(distinct) > 1:
        raise SystemExit("the runs differ in more than their seed: audit one configuration at a time")
    return np.array(scores), np.array(inside), next(iter(configs.values()))


def run_delta(config: dict) -> float:
    """The runs' δ: audit.delta when set, else the mechanism's privacy.delta, else the audit's default."""
    from .auditor import DEFAULT_DELTA

    for key in ("audit.delta", "privacy.delta"):
        if isinstance(config.get(key), (int, float)) and not isinstance(config.get(key), bool):
            return float(config[key])
    return DEFAULT_DELTA


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--target", type=int, default=0, help="which canary is the target record (its index)")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--delta", type=float, default=None, help="default: the runs' audit.delta, else privacy.delta")
    p.add_argument("--n-attacks", type=int, default=1, help="attacks tried on these runs (alpha is divided)")
    p.add_argument("--seed", type=int, default=0, help="the seed of the fit / held-out split of the trials")
    args = p.parse_args(argv)
    scores, inside, config = collect_trials(args.paths, args.target)
    delta = args.delta if args.delta is not None else run_delta(config)
    out = {"target": args.target, **multi_run_bound(scores, inside, delta, args.alpha, args.n_attacks, args.seed)}
    print(
        f"multi-run audit of canary {args.target}: {out['trials']} runs ({out['held_out_trials']} held out), "
        f"epsilon_lb = {out['epsilon_lb_cp']} (Clopper-Pearson, a lower bound) at confidence "
        f"{1 - args.alpha:g} / {args.n_attacks} attack(s) tried, delta {delta:g}; {out['epsilon_gdp_assumed']} if the "
        "mechanism's trade-off curve were Gaussian (GDP, not a bound)"
    )
    write_json(args.paths[0] / "audit_multi_run.json", out)
    return out


if __name__ == "__main__":
    main()
