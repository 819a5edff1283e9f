"""`python -m privgan_runner.report PATH... [--out DIR] [--all] [--latex]`: tables and plots from run folders.

Writes report.md (one row per configuration, the headline figures), report.csv (every figure, mean and
std), runs.csv (one row per run: its configuration columns, seed, status, every figure) and, with
`--latex`, report.tex. Headline figures are those the runs' results.json describe as such (each
attack's and metric's own description); runs written before descriptions existed use a fixed list.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from ..io import write_text
from ..run_folder import find_runs
from .aggregate import UNFINISHED, add_paper_values, aggregate, shown_columns
from .collect import flatten
from .defaults import fill_defaults
from .plots import audit_bounds, comparison, curves, histograms, roc_overlay, swept_knob


def _cell(value) -> str:
    if isinstance(value, tuple):  # an interval: the means of its two ends
        return f"[{value[0]:.3f}, {value[1]:.3f}]"
    if isinstance(value, dict):
        return f"{value['mean']:.3f} ± {value['std']:.3f}" if value["n"] > 1 else f"{value['mean']:.3f}"
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def _short(key: str) -> str:
    return key[: -len(".name")] if key.endswith(".name") else key


def _label(row: dict, columns: list[str], every_key: bool = False) -> str:
    """The configuration's values that tell it apart; a key its configuration does not have (another
    mechanism's knob) is left out rather than shown empty, unless `every_key`."""
    config = row["config"]
    shown = [k for k in columns if every_key or config.get(k) is not None]
    return " ".join(f"{_short(k)}={_cell(config.get(k))}" for k in shown) or "all runs"


#: the headline figures of runs whose results.json has no figure descriptions (report.csv has every figure)
FALLBACK_HEADLINE = (
    "white_box.auc",
    "white_box.f1",
    "top_m.top_m_accuracy",
    "tvd.tvd",
    "monte_carlo.mc_single_accuracy",
    "monte_carlo.mc_set_accuracy",
    "logan.auc",
    "logan.f1",
    "distance.auc",
    "gen_gap",
    "fid",
    "kid",
    "inception_score",
    "intra_fid",
    "gen2real_accuracy",
    "epsilon_spent",
)


def headline(rows: list[dict], figures: list[str]) -> list[str]:
    """The headline figures, in the order the runs describe them; an interval `*_ci` stands for its two ends."""
    shown: list[str] = []
    for row in rows:
        for name, description in row["described"].items():
            if description.get("headline") and (name in figures or f"{name}_low" in figures):
                shown.append(name)
    if not any(row["described"] for row in rows):
        shown = [f for f in FALLBACK_HEADLINE if f in figures]
    return list(dict.fromkeys(shown))


def _figure_cell(row: dict, name: str):
    cells = row["figures"]
    if name not in cells and isinstance(cells.get(f"{name}_low"), dict):  # an interval
        return cells[f"{name}_low"]["mean"], cells[f"{name}_high"]["mean"]
    return cells.get(name)


#: short column names for a paper's table (the rest: the figure's own name, underscores as spaces)
READABLE = {
    "auc": "AUC",
    "auc_ci": "AUC 95% CI",
    "tpr_at_1pct_fpr": "TPR@1%FPR",
    "tpr_at_0p1pct_fpr": "TPR@0.1%FPR",
    "f1": "F1",
    "top_m_accuracy": "top-m acc.",
    "tvd": "TVD",
    "tvd_chance": "TVD chance",
    "gen_gap": "gen. gap",
    "fid": "FID",
    "epsilon_spent": "spent epsilon",
}


def readable(name: str) -> str:
    """'white_box.auc' -> 'white_box AUC'."""
    source, _, short = name.rpartition(".")
    text = READABLE.get(short, short.replace("_", " "))
    return f"{source} {text}" if source else text


def _latex(header: list[str], body: list[list[str]], caption: str) -> str:
    """A booktabs table (the preamble needs \\usepackage{booktabs}) in a table float with `caption`."""
    escape = str.maketrans({"_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "±": r"$\pm$", "<": r"$<$", ">": r"$>$"})
    lines = [
        r"% needs \usepackage{booktabs} in the preamble",
        r"\begin{table}",
        r"\centering",
        r"\caption{" + caption.translate(escape) + "}",
        r"\begin{tabular}{" + "l" * len(header) + "}",
        r"\toprule",
        " & ".join(h.translate(escape) for h in header) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(c.translate(escape) for c in cells) + r" \\" for cells in body]
    return "\n".join(lines + [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""])


def _caption(paths, table: list[dict], shown: list[str], described: dict) -> str:
    """Names the sweep, says what the cells are, and what each figure column is (the runs' descriptions)."""
    seeds = sorted({int(r.get("seeds") or 0) for r in table})
    where = ", ".join(Path(p).name or str(p) for p in paths)
    what = "; ".join(
        f"{readable(f)}: {(described.get(f) or {}).get('description', f)}" for f in shown if f in described
    )
    count = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    return f"Sweep {where}: mean ± std over seeds ({count} per configuration). {what}."


def _runs_csv(rows: list[dict], config: list[str], figures: list[str]) -> str:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["run", "seed", "status"] + config + figures + ["filled_from_defaults"])
    for row in sorted(rows, key=lambda r: r["run"]):
        writer.writerow(
            [row["run"], row["seed"], row["status"]]
            + [row["config"].get(k) for k in config]
            + [row["figures"].get(f, "") for f in figures]
            + [" ".join(row.get("filled", []))]
        )
    return text.getvalue()


def build_report(paths, out: Path, all_columns: bool = False, latex: bool = False, frontier: bool = False) -> dict:
    rows = [flatten(run) for run in find_runs(paths)]
    if not rows:
        raise FileNotFoundError(f"no run folders (with a status.json) under {', '.join(map(str, paths))}")
    unfilled = fill_defaults(rows)  # runs written before a key existed: its current default, said in runs.csv
    table, config, figures = aggregate(rows)
    paper = add_paper_values(table)
    shown = figures if all_columns else headline(rows, figures)
    # one word per state, the same as runs.csv's: the unfinished states only where a run is in them
    counts = ["seeds", "completed", "collapsed", "failed"] + [w for w in UNFINISHED if any(r[w] for r in table)]

    printed = shown_columns(table, config)

    def cells(row: dict, figure_cells, keys=config) -> list:
        return (
            [row["config"].get(k) for k in keys]
            + [row[c] for c in counts]
            + figure_cells
            + [row["paper"].get(c) for c in paper]
        )

    md = io.StringIO()
    header = [_short(k) for k in printed] + counts + shown + paper
    body = [[_cell(c) for c in cells(row, [_figure_cell(row, f) for f in shown], printed)] for row in table]
    md.write("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n")
    for line in body:
        md.write("| " + " | ".join(line) + " |\n")
    csv_text = io.StringIO()
    writer = csv.writer(csv_text)
    writer.writerow(config + counts + [f"{f}{s}" for f in figures for s in ("_mean", "_std")] + paper)
    for row in table:
        values = []
        for f in figures:
            v = row["figures"].get(f)
            values += [v["mean"], v["std"]] if isinstance(v, dict) else [v, v]
        writer.writerow(["" if c is None else c for c in cells(row, values)])

    md.write(_filled_note(rows, unfilled))
    md.write(_most_exposed(rows))
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "report.md", md.getvalue())
    write_text(out / "report.csv", csv_text.getvalue())
    write_text(out / "runs.csv", _runs_csv(rows, config, figures))
    first_completed = {}
    for row in table:
        done = [r for r in row["runs"] if r.get("status") == "completed"]
        if done:
            label = _label(row, printed)
            if label in first_completed:  # told apart only by a key one of them lacks: show every key
                label = _label(row, printed, every_key=True)
            first_completed[label] = Path(done[0]["run"])
    written = [out / "report.md", out / "report.csv", out / "runs.csv"]
    labels = [_label(row, printed) for row in table]
    described: dict = {}
    for row in rows:
        described.update(row["described"])
    if latex:
        tex_header = [_short(k) for k in printed] + counts + [readable(f) for f in shown] + paper
        tex = _latex(tex_header, body, _caption(paths, table, shown, described))
        written.append(write_text(out / "report.tex", tex))
    if frontier:  # the privacy-utility frontier under both threat models (report/frontier.py)
        from .frontier import cells, frontier_plot, frontier_table

        frontier_cells = cells(table, labels)
        written.append(write_text(out / "frontier.md", frontier_table(frontier_cells)))
        made = frontier_plot(out / "frontier.png", frontier_cells)
        if made:
            written.append(made)
    knob = swept_knob(table, config)
    drawn = [f for f in shown if f in figures]
    for made in (
        curves(out / f"curves_{knob}.png", table, knob, drawn, described) if knob else None,
        comparison(out / "comparison.png", table, labels, drawn, described) if not knob else None,
        audit_bounds(out / "audit_bounds.png", table, knob) if knob else None,
        roc_overlay(out / "roc_overlay.png", first_completed),
        histograms(out / "score_histograms.png", first_completed),
    ):
        if made:
            written.append(made)
    return {"table": table, "columns": config, "markdown": md.getvalue(), "written": written}


def _filled_note(rows: list[dict], unfilled: list[str]) -> str:
    """What the table assumed of runs written before a key existed, and what it could not."""
    lines = []
    filled = sorted({k for r in rows for k in r.get("filled", [])})
    if filled:
        n = sum(bool(r.get("filled")) for r in rows)
        lines.append(
            f"{n} run(s) were written before {', '.join(filled)} existed: taken at today's defaults "
            "(runs.csv, filled_from_defaults)."
        )
    if unfilled:
        lines.append(
            f"Runs that lack {', '.join(unfilled)} (no default to take) are kept apart from those that have them."
        )
    return "".join(f"\n{line}\n" for line in lines)


def _most_exposed(rows: list[dict], per_run: int = 5) -> str:
    """The records an attack found most exposed (LiRA's `most_exposed`), per run: a section of report.md."""
    lines = []
    for row in rows:
        for attack, records in row["most_exposed"].items():
            for rank, item in enumerate(records[:per_run], 1):
                member = "member" if item["member"] else "non-member"
                lines.append(
                    f"| {row['run']} | {attack} | {rank} | {item['record']} | {item['score']:.3f} | {member} |"
                )
    if not lines:
        return ""
    head = "\n## Most exposed records\n\n| run | attack | rank | record (pool index) | score | truth |\n"
    head += "|---|---|---|---|---|---|\n"
    return head + "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m privgan_runner.report", description=__doc__)
    p.add_argument("paths", nargs="+", type=Path, help="run folders or sweep folders (searched recursively)")
    p.add_argument("--out", type=Path, help="where to write report.md, report.csv and plots (default: PATH/report)")
    p.add_argument("--all", action="store_true", help="every figure in the markdown table, not only the headline ones")
    p.add_argument("--latex", action="store_true", help="also write the table as report.tex (booktabs)")
    p.add_argument("--frontier", action="store_true", help="also the privacy-utility frontier: frontier.md, .png")
    args = p.parse_args(argv)
    try:
        report = build_report(
            args.paths, args.out or args.paths[0] / "report", all_columns=args.all, latex=args.latex,
            frontier=args.frontier,
        )  # fmt: skip
    except FileNotFoundError as exc:
        print(f"privgan_runner.report: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("privgan_runner.report: interrupted; the runs are untouched, each file written is whole", file=sys.stderr)
        return 130
    except OSError as exc:  # a full disk, an unwritable --out: the runs are untouched, each file written is whole
        print(f"privgan_runner.report: error: the report could not be written: {exc}", file=sys.stderr)
        return 1
    print(report["markdown"])
    print("written: " + ", ".join(str(p) for p in report["written"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
