"""The run's summary for people: the console table, also written to Hydra's job log file.

Every attack's shared figures in one table; beside it each attack's own headline figures and the
metrics, read from results.json's figure descriptions (`figures`), so a new attack's figures show up
without an edit here.
"""

from __future__ import annotations

import logging

#: the shared columns of the table: (figure, header, width)
COLUMNS = (
    ("auc", "AUC", 6),
    ("auc_ci", "95% CI", 13),
    ("tpr_at_1pct_fpr", "TPR@1%", 7),
    ("tpr_at_0p1pct_fpr", "TPR@.1%", 7),
    ("top_m_accuracy", "top-m", 6),
    ("chance", "chance", 6),
    ("f1", "F1", 6),
    ("balanced_accuracy", "bal.acc", 7),
)
SHARED = {c[0] for c in COLUMNS}


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, list) and len(value) == 2:
        return f"[{value[0]:.3f},{value[1]:.3f}]"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def summary_lines(results: dict) -> list[str]:
    head = f"{results.get('experiment') or 'run'}  seed={results.get('seed')}  status={results.get('status')}"
    lines = [head + (f"  ({results['run_dir']})" if results.get("run_dir") else "")]
    train = results.get("train") or {}
    if train:
        lines.append(
            f"train: {train.get('steps')} steps in {train.get('seconds')} s on {train.get('device')}"
            + (f"  ({train['message']})" if train.get("message") else "")
        )
    privacy = results.get("privacy") or {}
    if isinstance(privacy.get("epsilon"), (int, float)):
        lines.append(
            f"privacy: {privacy.get('mechanism')} spent epsilon = {privacy['epsilon']:.3f} at delta = "
            f"{privacy.get('delta'):g} ({privacy.get('accountant')}, {privacy.get('steps')} "
            f"{privacy.get('step_unit', 'D steps')})"
        )
    attacks = results.get("attacks") or {}
    described = results.get("figures") or {}
    if attacks:
        header = f"{'attack':<12} " + " ".join(f"{title:>{width}}" for _, title, width in COLUMNS)
        lines += [header, "-" * len(header)]
        for name, f in attacks.items():
            lines.append(f"{name:<12} " + " ".join(f"{_fmt(f.get(key)):>{width}}" for key, _, width in COLUMNS))
        for name, f in attacks.items():
            own = [
                key.split(".", 1)[1]
                for key, d in described.items()
                if key.startswith(name + ".") and d.get("headline") and key.split(".", 1)[1] not in SHARED
            ]
            shown = [f"{k}={_fmt(f.get(k))}" for k in own if k in f]
            if shown:
                lines.append(f"  {name}: " + "  ".join(shown))
        notes = {f[k] for f in attacks.values() for k in f if k.endswith("_note") and isinstance(f[k], str)}
        lines += [f"  note: {n}" for n in sorted(notes)]
    metrics = results.get("metrics") or {}
    if metrics:
        lines.append(
            "metrics: "
            + "  ".join(f"{k}={_fmt(v)}" for k, v in metrics.items() if isinstance(v, (int, float)) or v is None)
        )
        lines += [f"  note: {v}" for k, v in metrics.items() if k.endswith("_note") and isinstance(v, str)]
    lines += _audit_lines(results.get("audit") or {})
    if results.get("error"):
        lines.append(f"error: {results['error']}")
    return lines


def _audit_lines(audit: dict) -> list[str]:
    """The accountant's epsilon beside the empirical lower bound, then the descriptive epsilons."""
    lines = []
    one_run = audit.get("one_run")
    if one_run:
        accountant = audit.get("accountant_epsilon")
        o = one_run
        lines.append(
            f"audit: epsilon_lb = {_fmt(o['epsilon_lb'])} (one run, {o['n_canaries']} {o['canaries']} canaries, "
            f"{o['correct']}/{o['guesses']} guesses right, confidence {1 - o['alpha']:g}, delta {o['delta']:g})"
            f"  accountant epsilon = {'none' if accountant is None else _fmt(accountant)}"
        )
    gradient = audit.get("gradient")
    if gradient:
        g, accountant = gradient, audit.get("accountant_epsilon")
        claim = {True: "REJECTED", False: "not rejected", None: "not tested"}[g.get("claim_rejected")]
        lines.append(
            f"audit (white box): epsilon_lb = {_fmt(g['epsilon_lb'])} (Steinke et al.; ideal "
            f"{_fmt(g['ceiling_epsilon_lb'])})"
            f"  claimed form epsilon_lb = {_fmt(g['epsilon_lb_claimed_form'])} (f-DP; ideal "
            f"{_fmt(g.get('ceiling_epsilon_lb_claimed_form'))})  accountant epsilon = "
            f"{'none' if accountant is None else _fmt(accountant)}: claim {claim} "
            f"({g['n_canaries']} gradient canaries, {g['steps']} steps, confidence {1 - g['alpha']:g})"
        )
    for name, d in (audit.get("descriptive") or {}).items():
        lines.append(
            f"  {name}: effective epsilon (descriptive, not a DP bound) cp={_fmt(d['epsilon_cp_descriptive'])} "
            f"gdp={_fmt(d['epsilon_gdp_descriptive'])}"
        )
    return lines


def print_summary(results: dict) -> None:
    """Print the summary, and write it to the log files logging writes to (Hydra's job log)."""
    text = "\n".join(summary_lines(results))
    print("\n" + text, flush=True)
    record = logging.LogRecord("privgan_runner", logging.INFO, __file__, 0, "run summary\n%s", (text,), None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
