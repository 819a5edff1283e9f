"""The attack stage: every configured membership-inference attack scores the trained GAN. Reads the trained GAN
and membership.npz; writes scores/<attack>.npz (and membership.npz again when an attack drew index sets, e.g.
the Monte-Carlo attack's reference set), returns results.json's `attacks`."""

from __future__ import annotations

import logging

from ..run_folder import RunFolder

log = logging.getLogger("privgan_runner")


def run_attacks(parts, trained, folder: RunFolder, seed: int):
    import hashlib

    from ..attacks.figures import bootstrap_auc_ci, membership_figures
    from ..io import write_npz

    dropped = folder.drop_scores_except(a.name for a in parts.attacks)
    if dropped:
        log.info("removed the scores of attacks no longer requested: %s", ", ".join(dropped))
    figures, all_scores, drawn, intervals = {}, {}, {}, {}
    for attack in parts.attacks:
        s = attack.scores(trained)
        drawn.update(s.split)
        write_npz(
            folder.scores_file(attack.name),
            scores=s.scores,
            is_member=s.is_member,
            record_idx=s.record_idx,
            threshold=float("nan") if s.threshold is None else s.threshold,
        )
        # attacks that score alike (white_box and top_m read the same d(x)) share one bootstrap
        key = (hashlib.sha1(s.scores.tobytes() + s.is_member.tobytes()).hexdigest(), attack.bootstrap)
        if key not in intervals:
            intervals[key] = bootstrap_auc_ci(s.is_member, s.scores.astype("float64"), attack.bootstrap, seed)
        figures[attack.name] = {
            **membership_figures(s.scores, s.is_member, s.threshold, attack.bootstrap, seed, auc_ci=intervals[key]),
            **s.extra,
            "reads_discriminator": attack.reads_discriminator,  # which threat model the attack belongs to
        }
        all_scores[attack.name] = s
    if drawn:  # e.g. the Monte-Carlo attack's PCA reference set: every figure stays traceable
        trained.membership.extra.update(drawn)
        trained.membership.save(folder.membership_file)
    return figures, all_scores
