"""`python -m privgan_runner.report PATH... [--out DIR]`: tables (markdown + CSV) and plots from run folders."""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from ..io import write_text
from .aggregate import add_paper_values, aggregate
from .collect import find_runs, flatten
from .plots import curves, histograms, roc_overlay, swept_knob


def _cell(value) -> str:
    if isinstance(value, dict):
        return f"{value['mean']:.3f} ± {value['std']:.3f}" if value["n"] > 1 else f"{value['mean']:.3f}"
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def _short(key: str) -> str:
    return key[: -len(".name")] if key.endswith(".name") else key


def _label(row: dict, columns: list[str]) -> str:
    return " ".join(f"{_short(k)}={_cell(row['config'].get(k))}" for k in columns) or "all runs"


#: the figures the markdown table shows (report.csv always has every figure, with its std)
HEADLINE = ("white_box.auc", "white_box.f1", "top_m.top_m_accuracy", "tvd.tvd", "monte_carlo.mc_single_accuracy",
            "monte_carlo.mc_set_accuracy", "logan.auc", "logan.f1", "distance.auc", "gen_gap", "fid", "kid",
            "inception_score", "intra_fid", "gen2real_accuracy", "epsilon_spent")


def build_report(paths, out: Path, all_columns: bool = False) -> dict:
    rows = [flatten(run) for run in find_runs(paths)]
    if not rows:
        raise FileNotFoundError(f"no run folders (with a status.json) under {', '.join(map(str, paths))}")
    table, config, figures = aggregate(rows)
    paper = add_paper_values(table)
    shown = figures if all_columns else [f for f in HEADLINE if f in figures]
    counts = ["seeds", "completed", "collapsed", "failed"]

    def cells(row: dict, figure_cells) -> list:
        return ([row["config"].get(k) for k in config] + [row[c] for c in counts] + figure_cells
                + [row["paper"].get(c) for c in paper])

    md = io.StringIO()
    header = [_short(k) for k in config] + counts + shown + paper
    md.write("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n")
    for row in table:
        md.write("| " + " | ".join(_cell(c) for c in cells(row, [row["figures"].get(f) for f in shown])) + " |\n")
    csv_text = io.StringIO()
    writer = csv.writer(csv_text)
    writer.writerow(config + counts + [f"{f}{s}" for f in figures for s in ("_mean", "_std")] + paper)
    for row in table:
        values = []
        for f in figures:
            v = row["figures"].get(f)
            values += [v["mean"], v["std"]] if isinstance(v, dict) else [v, v]
        writer.writerow(["" if c is None else c for c in cells(row, values)])

    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "report.md", md.getvalue())
    write_text(out / "report.csv", csv_text.getvalue())
    first_completed = {}
    for row in table:
        done = [r for r in row["runs"] if r.get("status") == "completed"]
        if done:
            first_completed[_label(row, config)] = Path(done[0]["run"])
    written = [out / "report.md", out / "report.csv"]
    knob = swept_knob(table, config)
    for made in (curves(out / f"curves_{knob}.png", table, knob) if knob else None,
                 roc_overlay(out / "roc_overlay.png", first_completed),
                 histograms(out / "score_histograms.png", first_completed)):
        if made:
            written.append(made)
    return {"table": table, "columns": config, "markdown": md.getvalue(), "written": written}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m privgan_runner.report", description=__doc__)
    p.add_argument("paths", nargs="+", type=Path, help="run folders or sweep folders (searched recursively)")
    p.add_argument("--out", type=Path, help="where to write report.md, report.csv and plots (default: PATH/report)")
    p.add_argument("--all", action="store_true", help="every figure in the markdown table, not only the headline ones")
    args = p.parse_args(argv)
    try:
        report = build_report(args.paths, args.out or args.paths[0] / "report", all_columns=args.all)
    except FileNotFoundError as exc:
        print(f"privgan_runner.report: error: {exc}", file=sys.stderr)
        return 2
    print(report["markdown"])
    print("written: " + ", ".join(str(p) for p in report["written"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
