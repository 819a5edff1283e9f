"""How far the white-box audit catches each planted bug: for each DP mechanism, bug and claimed epsilon, whether the
f-DP test rejects the claim and the claimed-form bound against the claim (the protocol of tests/planted.py).

    python scripts/planted_bugs.py [--epsilons 1,2,5,10,20] [--mechanisms dpsgd,dpgan,gswgan,dpac]
    python scripts/planted_bugs.py --ideal --epsilons 1,2      # what m a sqrt(2) signal factor needs

Prints a markdown table; a bug is "caught" at a claim when the claim is rejected at level 0.05.

`--ideal`: the same f-DP test on ideal canaries of an exactly mu-GDP mechanism (the claim's mu at delta 1e-5)
whose signal a bug has moved by `--factor` (sqrt(2): a record released twice, charged once), for m canaries in
`--canaries`, `--repeats` draws each: how often the claim is rejected -- the power a one-run audit of m
canaries has against that bug, whatever the mechanism."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.planted import ALL_BUGS, SETUPS, audited_run  # noqa: E402


def ideal_power(epsilons, canaries, factor: float, repeats: int, delta: float = 1e-5) -> None:
    import numpy as np
    from scipy.optimize import brentq

    from privgan_runner.audit import fdp
    from privgan_runner.privacy import profile

    print("| claimed ε | μ | canaries | claim rejected | ε_LB claimed form (last draw) |")
    print("|---|---|---|---|---|")
    for eps in epsilons:
        mu = brentq(lambda mu, eps=eps: profile.gaussian_epsilon(mu, delta) - eps, 1e-3, 20)
        claim = {"accountant": "gdp", "noise_multiplier": 1 / mu, "sample_rate": 1.0, "steps": 1}
        for m in canaries:
            rejected = 0
            for seed in range(repeats):
                rng = np.random.default_rng(seed)
                inside = rng.random(m) < 0.5
                scores = rng.standard_normal(m) + factor * mu * inside
                tested = fdp.claim_test(scores, inside, claim, delta, 0.05)
                rejected += tested["claim_rejected"]
            print(f"| {eps:g} | {mu:.3f} | {m} | {rejected} of {repeats} | {tested['epsilon_lb_claimed_form']} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epsilons", default="1,2,5,10,20")
    p.add_argument("--mechanisms", default=",".join(SETUPS))
    p.add_argument("--bugs", default=",".join(ALL_BUGS))
    p.add_argument("--ideal", action="store_true", help="ideal mu-GDP canaries instead of planted runs")
    p.add_argument("--factor", type=float, default=2**0.5, help="--ideal: the bug's factor on the signal")
    p.add_argument("--canaries", default="49000,196000,800000", help="--ideal: m values")
    p.add_argument("--repeats", type=int, default=4, help="--ideal: draws per cell")
    args = p.parse_args()
    if args.ideal:
        epsilons = [float(e) for e in args.epsilons.split(",")]
        ideal_power(epsilons, [int(m) for m in args.canaries.split(",")], args.factor, args.repeats)
        return
    print("| mechanism | bug | claimed ε | claim rejected | ε_LB claimed form | ε_LB Steinke | seconds |")
    print("|---|---|---|---|---|---|---|")
    for mechanism in args.mechanisms.split(","):
        for bug in args.bugs.split(","):
            for eps in map(float, args.epsilons.split(",")):
                started = time.perf_counter()
                r = audited_run(mechanism, eps, bug)
                print(
                    f"| {mechanism} | {bug} | {r['claimed_epsilon']:.3f} | {r['claim_rejected']} | "
                    f"{r['epsilon_lb_claimed_form']} | {r['epsilon_lb']} | {time.perf_counter() - started:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
