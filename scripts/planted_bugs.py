"""How far the white-box audit catches each planted bug: for each DP mechanism, bug and claimed epsilon, whether the
f-DP test rejects the claim and the claimed-form bound against the claim (the protocol of tests/planted.py).

    python scripts/planted_bugs.py [--epsilons 1,2,5,10,20] [--mechanisms dpsgd,dpgan,gswgan,dpac]

Prints a markdown table; a bug is "caught" at a claim when the claim is rejected at level 0.05."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.planted import ALL_BUGS, SETUPS, audited_run  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epsilons", default="1,2,5,10,20")
    p.add_argument("--mechanisms", default=",".join(SETUPS))
    p.add_argument("--bugs", default=",".join(ALL_BUGS))
    args = p.parse_args()
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
