"""The privacy-utility frontier of a sweep (`python -m privgan_runner.report SWEEP --frontier`): for each
configuration, its leak under two stated threat models against its utility, and the configurations no other
beats on both.

Threat models (each attack says what it reads: results.json `attacks.<name>.reads_discriminator`; each mechanism
whether it releases D: `privacy.releases_discriminator`):
- **G released**: attacks that read only samples of G (distance, DOMIAS, Monte-Carlo, LOGAN, LiRA on distances);
- **G and D released**: every attack, the white-box ones too; a mechanism that never releases D (GS-WGAN, DPAC)
  has no place in it.

Leak: the TPR at 1% FPR of the strongest attack of the threat model in each run (with its Clopper-Pearson
interval), mean and std over seeds. The strongest attack is chosen on the same scores it is read on, so the leak
is descriptive: an upper reading of what these attacks find, not a held-out estimate. Beside it the accountant's
epsilon and the audits' lower bounds, where a run has them. Utility: gen2real accuracy (higher is better) or FID
(lower is better), mean and std over seeds. A configuration has learned when its gen2real accuracy, pooled over
seeds, is above chance (1 / classes) by the lower end of its 95% Clopper-Pearson interval; one that has not is
drawn hollow and said so in the table, since its place on the chart compares a failure. A configuration is on
the frontier when no other that learned has both a lower leak and a better utility (means over seeds; the
intervals say how sure that is).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..attacks.figures import clopper_pearson
from ..io import write_figure
from ..plots import _pyplot
from ..run_folder import RunFolder
from .aggregate import mean_std

THREAT_MODELS = ("G released", "G and D released")
#: utility figures: (figure, higher is better, axis label)
UTILITIES = {"gen2real_accuracy": (True, "gen2real accuracy"), "fid": (False, "FID (domain backbone)")}
AUDIT_BOUNDS = (("audit", "gradient", "epsilon_lb_claimed_form"), ("audit", "one_run", "epsilon_lb"))


def run_leak(results: dict, threat_model: str) -> dict | None:
    """The run's strongest attack under `threat_model`: {"attack", "tpr", "ci"}; None when the model does not
    apply (D not released) or no attack of it ran."""
    releases_d = (results.get("privacy") or {}).get("releases_discriminator", True)
    if threat_model == "G and D released" and not releases_d:
        return None
    best = None
    for name, figures in (results.get("attacks") or {}).items():
        reads_d = figures.get("reads_discriminator", True)  # unknown: counted as reading D (the safe side)
        if threat_model == "G released" and reads_d:
            continue
        tpr = figures.get("tpr_at_1pct_fpr")
        if isinstance(tpr, (int, float)) and (best is None or tpr > best["tpr"]):
            best = {"attack": name, "tpr": float(tpr), "ci": figures.get("tpr_at_1pct_fpr_ci")}
    return best


def _mean_std(values: list) -> tuple[float, float] | None:
    """`mean_std` of the finite numbers among `values` (None when there are none)."""
    values = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    return mean_std(values) if values else None


def _select(results: dict, path: tuple[str, ...]):
    node = results
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _chance(results: dict) -> float | None:
    """gen2real's chance level: the metric's own figure, or (a run written before it) 1 / the dataset's classes."""
    chance = (results.get("metrics") or {}).get("gen2real_accuracy_chance")
    if chance is None:
        from hydra.utils import get_class

        target = ((results.get("config") or {}).get("dataset") or {}).get("_target_")
        try:
            n_classes = getattr(get_class(target), "n_classes", 0) if target else 0
        except (ImportError, ValueError):  # a dataset class not importable here (a user's extension): unknown
            n_classes = 0
        chance = 1.0 / n_classes if isinstance(n_classes, int) and n_classes > 0 else None
    return chance


def learned(runs: list[dict]) -> bool | None:
    """gen2real accuracy above chance: the lower end of the 95% Clopper-Pearson interval of the correct
    predictions pooled over the runs (accuracy x the real records it is tested on) above 1 / classes; None
    without the figure."""
    hits = n = 0
    for r in runs:
        m = r.get("metrics") or {}
        acc, n_real, chance = m.get("gen2real_accuracy"), m.get("classification_n_real"), _chance(r)
        if not isinstance(acc, (int, float)) or not n_real or chance is None:
            return None
        hits, n = hits + int(round(acc * n_real)), n + int(n_real)
    return clopper_pearson(hits, n)[0] > chance if n else None


def _mechanism_and_setting(config: dict) -> tuple[str, tuple[str, float] | None]:
    """What the chart colours by -- the privacy mechanism, or the regularizer of a run without one -- and the
    mechanism's swept knob: ("ε", target epsilon) or ("λ", lambda), None for neither."""
    privacy, regularizer = config.get("privacy") or {}, config.get("regularizer") or {}
    name = privacy.get("name")
    mechanism = name if name not in (None, "none") else regularizer.get("name") or "none"
    for key, symbol in (("epsilon", "ε"), ("lam", "λ")):
        if isinstance(privacy.get(key), (int, float)):
            return mechanism, (symbol, float(privacy[key]))
    return mechanism, None


def _names(frontier_cells: list[dict]) -> dict[int, str]:
    """{id(cell): what the chart and the table call it}: mechanism and setting ("dpsgd ε=4") where that tells
    the configurations apart, else their full labels."""
    shorts = [
        c["mechanism"] + ("" if c["setting"] is None else " {}={:g}".format(*c["setting"])) for c in frontier_cells
    ]
    unique = len(set(shorts)) == len(shorts)
    return {id(c): short if unique else c["label"] for c, short in zip(frontier_cells, shorts)}


def cells(table: list[dict], labels: list[str]) -> list[dict]:
    """One cell per configuration: its label, reference flag (no privacy, no regularizer), and per threat model
    the leak (mean, std over seeds, the attacks chosen, the mean Clopper-Pearson interval), the accountant's
    epsilon, the audits' bounds and the utilities."""
    out = []
    for row, label in zip(table, labels):
        runs = [RunFolder(r["run"]).results() or {} for r in row["runs"] if r.get("status") == "completed"]
        if not runs:
            continue
        config = runs[0].get("config") or {}
        mechanism, setting = _mechanism_and_setting(config)
        cell: dict = {
            "label": label,
            "mechanism": mechanism,
            "setting": setting,
            "seeds": len(runs),
            "reference": mechanism == "none",  # no privacy mechanism and no regularizer
            "epsilon": _mean_std([(r.get("privacy") or {}).get("epsilon") for r in runs]),
            "audit_epsilon_lb": {".".join(p[1:]): _mean_std([_select(r, p) for r in runs]) for p in AUDIT_BOUNDS},
            "utility": {u: _mean_std([(r.get("metrics") or {}).get(u) for r in runs]) for u in UTILITIES},
            "learned": learned(runs),
            "leak": {},
        }
        for model in THREAT_MODELS:
            leaks = [run_leak(r, model) for r in runs]
            if any(leak is None for leak in leaks):
                continue
            cis = [leak["ci"] for leak in leaks if isinstance(leak["ci"], list) and len(leak["ci"]) == 2]
            cell["leak"][model] = {
                "tpr": _mean_std([leak["tpr"] for leak in leaks]),
                "attacks": sorted({leak["attack"] for leak in leaks}),
                "ci": [float(np.mean([c[0] for c in cis])), float(np.mean([c[1] for c in cis]))] if cis else None,
            }
        out.append(cell)
    return out


def pareto(points: list[tuple[float, float]], higher_is_better: bool) -> list[int]:
    """Indices of the (leak, utility) points no other point beats: lower-or-equal leak and better-or-equal
    utility, one of them strictly."""
    sign = 1.0 if higher_is_better else -1.0
    keep = []
    for i, (leak, utility) in enumerate(points):
        dominated = any(
            (lk <= leak and sign * ut >= sign * utility) and (lk < leak or sign * ut > sign * utility)
            for j, (lk, ut) in enumerate(points)
            if j != i
        )
        if not dominated:
            keep.append(i)
    return keep


def on_frontier(shown: list[dict], points: list[tuple[float, float]], higher: bool) -> list[int]:
    """Indices into `shown` on the frontier, among the configurations that learned (or where that is unknown): one
    whose samples teach nothing would sit on it only for leaking nothing, which is no trade-off."""
    candidates = [i for i, c in enumerate(shown) if c["learned"] is not False]
    return [candidates[j] for j in pareto([points[i] for i in candidates], higher)]


def _panel(frontier_cells: list[dict], model: str, utility: str | None):
    """(the cells `model` applies to, their (mean leak, mean utility) points, the indices on its frontier): what
    the chart draws and the table lists for one threat model."""
    shown = [c for c in frontier_cells if model in c["leak"]]
    if utility is None:
        return shown, [], []
    points = [(c["leak"][model]["tpr"][0], c["utility"][utility][0]) for c in shown]
    return shown, points, on_frontier(shown, points, UTILITIES[utility][0])


def _utility_of(frontier_cells: list[dict]) -> str | None:
    """gen2real accuracy where every cell has it, else FID."""
    for name in UTILITIES:
        if frontier_cells and all(c["utility"].get(name) for c in frontier_cells):
            return name
    return None


def frontier_plot(path: Path, frontier_cells: list[dict]) -> Path | None:
    """Utility against leak, one panel per threat model; each configuration a point with its std over seeds on
    both axes, the frontier joined, the no-privacy model starred."""
    utility = _utility_of(frontier_cells)
    if utility is None:
        return None
    ylabel = UTILITIES[utility][1]
    plt = _pyplot()
    mechanisms = list(dict.fromkeys(c["mechanism"] for c in frontier_cells))
    colour = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(mechanisms)}
    name = _names(frontier_cells)
    fig, axes = plt.subplots(1, 2, figsize=(14, 6), sharey=True)
    for ax, model in zip(axes, THREAT_MODELS):
        shown, points, on = _panel(frontier_cells, model, utility)
        for m in mechanisms:  # a mechanism's settings (its epsilons, its lambdas) joined in their order
            own = sorted(((c["setting"] or ("", 0.0))[1], p) for c, p in zip(shown, points) if c["mechanism"] == m)
            if own:
                ax.plot(*zip(*[p for _, p in own]), ":", color=colour[m], lw=1, label=m)
        for c, (x, y) in zip(shown, points):
            ax.errorbar(
                x,
                y,
                xerr=c["leak"][model]["tpr"][1],
                yerr=c["utility"][utility][1],
                fmt="*" if c["reference"] else "o",
                markersize=12 if c["reference"] else 6,
                color=colour[c["mechanism"]],
                mfc="none" if c["learned"] is False else colour[c["mechanism"]],
                capsize=3,
            )
            ax.annotate(name[id(c)], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        joined = sorted(points[i] for i in on)
        if joined:
            ax.plot(*zip(*joined), "-", color="black", lw=2, alpha=0.7, zorder=5, label="frontier")
        ax.set_xlim(left=0)
        ax.axvline(0.01, color="grey", lw=0.8, ls="--")  # TPR = FPR: no leak at this FPR
        ax.set(xlabel="leak: TPR at 1% FPR of the strongest attack", title=f"threat model: {model}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    handles, names = axes[0].get_legend_handles_labels()
    more = dict(zip(*reversed(axes[1].get_legend_handles_labels())))
    fig.legend(handles + [h for n, h in more.items() if n not in names], names + [n for n in more if n not in names],
               loc="center right", fontsize=8, frameon=False)  # fmt: skip
    fig.suptitle("points: mean over seeds, bars: std over seeds; star: no privacy, no regularizer; dashed: no leak; "
                 "hollow: gen2real not above chance",
                 fontsize=9)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    out = write_figure(path, fig)
    plt.close(fig)
    return out


def _fmt(value: tuple[float, float] | None, digits: int = 3) -> str:
    return "--" if value is None else f"{value[0]:.{digits}f} ± {value[1]:.{digits}f}"


_LEARNED = {True: "yes", False: "NO", None: "--"}


def frontier_table(frontier_cells: list[dict]) -> str:
    """Every figure of the frontier, one row per configuration and threat model, the frontier marked."""
    utility = _utility_of(frontier_cells)
    lines = [
        "| threat model | configuration | seeds | leak: TPR@1%FPR | its 95% CP interval | strongest attack | "
        "accountant ε | ε_LB white box (claimed form) | ε_LB final G | gen2real | FID | learned | on the frontier |",
        "|" + "---|" * 13,
    ]
    name = _names(frontier_cells)
    for model in THREAT_MODELS:
        shown, _, on = _panel(frontier_cells, model, utility)
        for i, c in enumerate(shown):
            leak = c["leak"][model]
            ci = "--" if leak["ci"] is None else f"[{leak['ci'][0]:.3f}, {leak['ci'][1]:.3f}]"
            bounds = c["audit_epsilon_lb"]
            lines.append(
                f"| {model} | {name[id(c)]} | {c['seeds']} | {_fmt(leak['tpr'])} | {ci} | "
                f"{', '.join(leak['attacks'])} | "
                f"{_fmt(c['epsilon'], 2)} | {_fmt(bounds['gradient.epsilon_lb_claimed_form'], 2)} | "
                f"{_fmt(bounds['one_run.epsilon_lb'], 2)} | {_fmt(c['utility']['gen2real_accuracy'])} | "
                f"{_fmt(c['utility']['fid'], 1)} | {_LEARNED[c['learned']]} | {'yes' if i in on else ''} |"
            )
    note = (
        "\nLeak: the strongest attack of the threat model in each run, chosen on the scores it is read on "
        "(descriptive). Frontier: no other configuration has both a lower mean leak and a better mean "
        f"utility among those that learned ({utility or 'none available'}). Learned: gen2real pooled over seeds "
        "above chance by its 95% Clopper-Pearson interval; a configuration that has not learned is on the chart "
        "as a failure, not a trade-off.\n"
    )
    return "\n".join(lines) + "\n" + note
