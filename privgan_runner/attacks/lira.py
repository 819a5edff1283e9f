"""LiRA, the likelihood-ratio attack with shadow models (Carlini, Chien, Nasr, Song, Terzis & Tramèr 2022,
"Membership inference attacks from first principles", Sec. IV), against the GAN.

Shadow models are runs of the target's configuration with other seeds (each trained on its own random
draw of members), kept in `shadow_dir` and reused by every target run of that configuration; their
membership.npz is the in/out matrix. Train them through the normal pipeline, e.g.

    python -m privgan_runner -m +experiment=digits_memorize dataset.pool_seed=0 seed='range(100,116)' \\
        stages=[train] hydra.sweep.dir=outputs/shadows/digits_memorize

(`dataset.pool_seed` fixes the records every seed splits, so each target record is in some shadows.)
For every attacked record x the statistic φ(x) is read from each shadow:

- `signal: logit`: D's raw output (the logit; the max over views for PIGAN / PrivGAN), white-box;
- `signal: distance`: minus the distance to the nearest of `n_generated` samples of G, black-box.

Per record, Gaussians are fitted to the statistics of the shadows that did not train on x ("out") and,
online, of those that did ("in"). "When there are few shadow models we ... use a global variance" (Sec.
IV-C): `global_variance` (auto: fewer than 64 shadows) pools the variance over the records.

- offline (Sec. IV-D): "a one-sided hypothesis test" against the out Gaussian; the score is
  (φ(x) - μ_out) / σ_out, the same ranking as Φ of it but without Φ's saturation into ties;
- online: log N(φ(x); μ_in, σ_in²) - log N(φ(x); μ_out, σ_out²), defined when every attacked record has an
  in shadow; `variant` picks the one behind the shared figures, the other is reported beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from ..results import Figure
from .base import Attack, AttackScores
from .distances import min_distance
from .figures import membership_figures, top_m_threshold

VARIANTS = ("offline", "online")
SIGNALS = ("logit", "distance")


def _shadow_runs(shadow_dir: Path | None, identity: dict, seed: int) -> list[Path]:
    """The finished runs under shadow_dir of this configuration, but another seed; refuses others."""
    from ..run_folder import RunFolder, differences, find_runs, training_identity

    key = "attack.lira.shadow_dir"
    if shadow_dir is None:
        raise ConfigError(key, "is required: a folder of shadow runs of this configuration (see attacks/lira.py)")
    if not shadow_dir.is_dir():
        raise ConfigError(key, f"{shadow_dir} is not a folder of shadow runs (train them first: see attacks/lira.py)")
    shadows = []
    for run in find_runs([shadow_dir]):
        folder = RunFolder(run)
        results = folder.results() or {}
        if results.get("status") != "completed" or not folder.last_checkpoint.is_file():
            continue
        config = folder.job_config() or {}
        theirs = training_identity(config)
        if theirs != identity:
            raise ConfigError(key, f"{run} is a run of another configuration ({differences(theirs, identity)})")
        if config.get("seed") != seed:  # the target is never its own shadow
            shadows.append(run)
    if len(shadows) < 2:
        raise ConfigError(
            key, f"{shadow_dir} holds {len(shadows)} finished shadow runs of this configuration; need >= 2"
        )
    return shadows


class Lira(Attack):
    reads_discriminator = True
    headline_figures = ("auc", "auc_ci", "tpr_at_1pct_fpr", "tpr_at_0p1pct_fpr")
    figures = (
        Figure("n_shadows", None, False, description="shadow models used"),
        Figure("online.auc", True, False, (0.0, 1.0), description="online LiRA's AUC (when offline is the main)"),
        Figure("online.tpr_at_1pct_fpr", True, False, (0.0, 1.0)),
        Figure("offline.auc", True, False, (0.0, 1.0), description="offline LiRA's AUC (when online is the main)"),
        Figure("offline.tpr_at_1pct_fpr", True, False, (0.0, 1.0)),
    )

    def __init__(
        self,
        shadow_dir: str | None = None,
        signal: str = "logit",
        variant: str = "offline",
        global_variance: bool | None = None,
        n_generated: int = 2000,
        chunk: int = 4096,
        n_exposed: int = 10,
        bootstrap: int = 1000,
    ):
        super().__init__(bootstrap)
        if signal not in SIGNALS:
            raise ConfigError("signal", f"must be one of {', '.join(SIGNALS)}, got {signal!r}")
        if variant not in VARIANTS:
            raise ConfigError("variant", f"must be one of {', '.join(VARIANTS)}, got {variant!r}")
        for key, value, least in (("n_generated", n_generated, 1), ("chunk", chunk, 1), ("n_exposed", n_exposed, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(key, f"must be an integer >= {least}, got {value!r}")
        self.shadow_dir = None if shadow_dir is None else Path(shadow_dir)
        self.signal, self.variant = signal, variant
        self.reads_discriminator = signal == "logit"  # signal=distance reads G's samples only
        self.global_variance, self.n_generated = global_variance, n_generated
        self.chunk, self.n_exposed = chunk, n_exposed

    def check_run(self, identity: dict, seed: int, membership=None) -> None:
        """The shadows exist and, from their membership files alone, leave every attacked record out of at least
        one of them (online: also in at least one): refused before the target trains, not after."""
        runs = _shadow_runs(self.shadow_dir, identity, seed)
        if membership is None:
            return
        from ..data.split import Membership

        attacked = np.concatenate([membership.member_idx, membership.nonmember_idx])
        inside = np.array(
            [np.isin(attacked, Membership.load(Path(run) / "membership.npz").training_idx) for run in runs]
        )
        if (~inside).sum(0).min() < 1:
            raise ConfigError(
                "attack.lira.shadow_dir",
                f"{int((inside.all(0)).sum())} attacked records are in every one of the {len(runs)} shadows: train "
                "more shadows (seeds) before this target",
            )
        if self.variant == "online" and inside.sum(0).min() < 1:
            raise ConfigError(
                "attack.lira.variant",
                f"online needs every attacked record in some shadow; {int((~inside.any(0)).sum())} are in none of the "
                f"{len(runs)}: train more shadows",
            )

    def statistic(self, model, idx: np.ndarray) -> np.ndarray:
        """φ of the records `idx` under one trained GAN (the target or a shadow)."""
        if self.signal == "logit":
            return model.d_outputs(idx).double().numpy()
        records = model.pool.images[torch.as_tensor(idx)].flatten(1).to(model.device)
        generated = model.sample(self.n_generated).flatten(1).to(model.device)
        return (-min_distance(records, generated, self.chunk)).cpu().numpy()

    def scores(self, trained) -> AttackScores:
        idx, is_member = trained.attacked_idx, trained.is_member
        runs = _shadow_runs(self.shadow_dir, trained.identity, trained.seed)
        observed = self.statistic(trained, idx)
        stats, inside, seeds = [], [], []
        for run in runs:
            shadow = trained.load_run(run)
            stats.append(self.statistic(shadow, idx))
            inside.append(np.isin(idx, shadow.membership.training_idx))
            seeds.append(shadow.seed)
        stats, inside = np.array(stats), np.array(inside)  # [K, n]
        if (~inside).sum(0).min() < 1:
            raise ConfigError("attack.lira.shadow_dir", "some attacked records are in every shadow: train more")
        pooled = self.global_variance if self.global_variance is not None else len(runs) < 64
        mu_out, sd_out = _fit(stats, ~inside, pooled)
        offline = (observed - mu_out) / sd_out
        online = None
        if inside.sum(0).min() >= 1:
            from scipy.stats import norm

            mu_in, sd_in = _fit(stats, inside, pooled)
            online = norm.logpdf(observed, mu_in, sd_in) - norm.logpdf(observed, mu_out, sd_out)
        if self.variant == "online" and online is None:
            raise ConfigError(
                "attack.lira.variant", "online needs every attacked record in some shadow: train more shadows"
            )
        main, other_name = (online, "offline") if self.variant == "online" else (offline, "online")
        other = offline if self.variant == "online" else online
        extra: dict = {
            "n_shadows": len(runs),
            "variant": self.variant,
            "signal": self.signal,
            "global_variance": pooled,
            "shadow_dir": str(self.shadow_dir),  # what the figures depend on
            "shadow_seeds": sorted(seeds),
        }
        if other is not None:
            fig = membership_figures(other, is_member, None, bootstrap=0)
            extra[other_name] = {k: fig[k] for k in ("auc", "tpr_at_1pct_fpr")}
        else:
            extra[f"{other_name}_reason"] = "some attacked records are in no shadow model"
        order = np.lexsort((idx, -main))[: self.n_exposed]  # ties by pool index, not by listing order
        extra["most_exposed"] = [
            {"record": int(idx[i]), "score": round(float(main[i]), 4), "member": bool(is_member[i])} for i in order
        ]
        return AttackScores(
            scores=main,
            is_member=is_member,
            record_idx=idx,
            threshold=top_m_threshold(main, int(is_member.sum())),
            extra=extra,
        )


def _fit(stats: np.ndarray, mask: np.ndarray, pooled: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-record mean and standard deviation of the masked statistics ([K, n]); pooled: one global
    standard deviation of the residuals, as the paper advises for few shadows."""
    count = mask.sum(0)
    mean = np.where(mask, stats, 0.0).sum(0) / np.maximum(count, 1)
    residual = np.where(mask, stats - mean, 0.0)
    if pooled:
        dof = max(1, int(count.sum() - (count > 0).sum()))
        sd = np.full(stats.shape[1], np.sqrt((residual**2).sum() / dof))
    else:
        sd = np.sqrt((residual**2).sum(0) / np.maximum(count - 1, 1))
    return mean, np.maximum(sd, 1e-12)
