"""The audit stage: the accountant's epsilon beside the audits' lower bounds -- the one-run input-canary bound on
the attack's scores, the white-box gradient canaries scored during training, the descriptive epsilon of every
attack. Reads checkpoints/gradient_canaries.npz; writes audit/canary_scores.npz; returns results.json's `audit`."""

from __future__ import annotations

from ..run_folder import RunFolder


def run_audits(parts, trained, attack_scores: dict, folder: RunFolder, privacy_record: dict) -> dict:
    """results.json's `audit`: the accountant's ε (if any) beside the one-run bound and the descriptive ε."""
    from ..audit.gradient import read_gradient_canaries
    from ..io import write_npz

    audit, membership = parts.audit, trained.membership
    out: dict = {
        "accountant_epsilon": spent_epsilon(privacy_record),
        "delta": audit.delta_for(parts.privacy),
    }
    if audit.canaries is not None:
        signal = next(a for a in parts.attacks if a.name == audit.signal)
        canary_idx, canary_in = membership.extra["canary_idx"], membership.extra["canary_in"].astype(bool)
        out["one_run"], scores = audit.one_run(signal, trained, canary_idx, canary_in)
        write_npz(folder.canary_scores_file, canary_idx=canary_idx, canary_in=canary_in, scores=scores)
    if audit.gradient_canaries:
        out["gradient"] = audit.gradient(
            read_gradient_canaries(folder.gradient_canaries_file), parts.privacy, privacy_record
        )
    if audit.descriptive:
        out["descriptive"] = {
            name: audit.described(s.scores, s.is_member, out["delta"]) for name, s in attack_scores.items()
        }
    return out


def spent_epsilon(privacy_record: dict) -> float | None:
    """The accountant's spent ε in a privacy record (None for a mechanism without a DP guarantee)."""
    spent = privacy_record.get("epsilon")
    return float(spent) if isinstance(spent, (int, float)) and not isinstance(spent, bool) else None
