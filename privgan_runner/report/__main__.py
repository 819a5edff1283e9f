"""`python -m privgan_runner.report PATH... [--out DIR]`: tables (markdown + CSV) and plots from run folders."""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from ..io import write_text
from .aggregate import add_paper_values, aggregate
from .collect import CONFIG_KEYS, find_runs, flatten
from .plots import curves, histograms, roc_overlay, swept_knob


def _cell(value) -> str:
    if isinstance(value, dict):
        return f"{value['mean']:.3f} ± {value['std']:.3f}" if value["n"] > 1 else f"{value['mean']:.3f}"
    return "" if value is None else str(value)


def _label(row: dict) -> str:
    return " ".join(f"{k}={row[k]}" for k in CONFIG_KEYS if row.get(k) is not None)


#: the figures the markdown table shows (report.csv always has every figure, with its std)
HEADLINE = ("white_box.auc", "white_box.f1", "top_m.top_m_accuracy", "tvd.tvd", "monte_carlo.mc_single_accuracy",
            "monte_carlo.mc_set_accuracy", "logan.auc", "logan.f1", "distance.auc", "gen_gap", "fid", "kid",
            "inception_score", "intra_fid", "gen2real_accuracy", "epsilon_spent")


def build_report(paths, out: Path, all_columns: bool = False) -> dict:
    rows = [flatten(run) for run in find_runs(paths)]
    if not rows:
        raise FileNotFoundError(f"no run folders (with a status.json) under {', '.join(map(str, paths))}")
    table, figures = aggregate(rows)
    paper = add_paper_values(table)
    config = [k for k in CONFIG_KEYS if any(r.get(k) is not None for r in table)]
    shown = figures if all_columns else [f for f in HEADLINE if f in figures]
    counts = config + ["seeds", "completed", "collapsed", "failed"]
    columns = counts + shown + paper

    md = io.StringIO()
    md.write("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n")
    for row in table:
        md.write("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |\n")
    csv_text = io.StringIO()
    writer = csv.writer(csv_text)
    flat_cols = counts + [f"{f}{s}" for f in figures for s in ("_mean", "_std")] + paper
    writer.writerow(flat_cols)
    for row in table:
        cells = [row.get(c) for c in counts]
        for f in figures:
            v = row.get(f)
            cells += [v["mean"], v["std"]] if isinstance(v, dict) else [v, v]
        cells += [row.get(c) for c in paper]
        writer.writerow(["" if c is None else c for c in cells])

    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "report.md", md.getvalue())
    write_text(out / "report.csv", csv_text.getvalue())
    first_completed = {}
    for row in rows:
        if row.get("status") == "completed":
            first_completed.setdefault(_label({k: row.get(k) for k in CONFIG_KEYS}), Path(row["run"]))
    written = [out / "report.md", out / "report.csv"]
    knob = swept_knob(table)
    for made in (curves(out / f"curves_{knob}.png", table, knob) if knob else None,
                 roc_overlay(out / "roc_overlay.png", first_completed),
                 histograms(out / "score_histograms.png", first_completed)):
        if made:
            written.append(made)
    return {"table": table, "columns": columns, "markdown": md.getvalue(), "written": written}


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
