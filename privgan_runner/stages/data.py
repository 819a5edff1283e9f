"""The data stage: the dataset loaded, the audit's canaries planted, the member / non-member split drawn (or a
re-attack's read back), and the dataset's record for results.json. Reads the dataset and membership.npz; writes
nothing (the pipeline saves a drawn split once the job is accepted)."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from ..errors import ConfigError
from ..run_folder import RunFolder
from ..seeds import derive


def load_data(cfg: DictConfig, parts, folder: RunFolder, train: bool):
    """(dataset_pool, pool, membership, drawn): the dataset as loaded, the pool the run indexes (with the
    audit's canaries appended, if any), and the saved split when re-attacking, else the seed's split
    (drawn = True, to be saved once the run is accepted). Writes nothing."""
    from ..audit.canaries import inclusion, plant
    from ..data.split import Membership, split_by_group, split_pool

    dataset_pool = parts.dataset.load()
    pool, excluded = dataset_pool, np.array([], dtype=int)
    audit = parts.audit
    if audit.canaries is not None:
        canaries = plant(dataset_pool, audit.canaries, audit.n_canaries, audit.canary_seed, parts.model.conditional)
        pool, excluded = canaries.pool, canaries.excluded_idx
    if not train and folder.membership_file.exists():  # re-attacking: the model's own split
        return dataset_pool, pool, Membership.load(folder.membership_file), False
    available = np.setdiff1d(np.arange(len(pool)), excluded)  # canaries never enter the attacks' split
    pool_seed = cfg.dataset.get("pool_seed")
    public = public_records(cfg, pool, available)
    available = np.setdiff1d(available, public)
    if pool.groups is not None:  # records of one group (IDC patient) never straddle the split
        if pool_seed is not None:
            raise ConfigError("dataset.pool_seed", "is not supported for datasets split by group (IDC)")
        membership = split_by_group(
            pool.groups[available],
            cfg.dataset.member_fraction,
            cfg.dataset.max_samples,
            derive(int(cfg.seed), "split"),
            pool.member_groups,
        )
    else:
        membership = split_pool(
            len(available),
            cfg.dataset.member_fraction,
            cfg.dataset.max_samples,
            derive(int(cfg.seed), "split"),
            pool_seed,
        )
    membership.member_idx, membership.nonmember_idx = (
        available[membership.member_idx],
        available[membership.nonmember_idx],
    )
    if len(public):
        membership.extra["public_idx"] = public
    if audit.canaries is not None:
        membership.extra.update(
            canary_idx=canaries.canary_idx,
            canary_in=inclusion(len(canaries.canary_idx), derive(int(cfg.seed), "canary_inclusion")),
        )
    return dataset_pool, pool, membership, True


def public_records(cfg: DictConfig, pool, available: np.ndarray) -> np.ndarray:
    """The public records, drawn from stream `public` among the records the split could use: disjoint from the
    members and from every attacked record; none by default. `dataset.public_fraction` is the public share of
    the training data, public / (public + members) -- dp-GAN's "2 : 98 as publicly available data D_pub and
    private data D_pri" (Zhang et al., Sec. 5) is 0.02 -- so the count is solved against the member count the
    split then draws from what is left."""
    fraction = float(cfg.dataset.get("public_fraction") or 0.0)
    if fraction == 0.0:
        return np.array([], dtype=int)
    if pool.groups is not None:
        raise ConfigError("dataset.public_fraction", "is not supported for datasets split by group (IDC)")
    if not 0 < fraction < 1:
        raise ConfigError("dataset.public_fraction", f"must be in [0, 1), got {fraction}")
    max_samples, member_fraction = cfg.dataset.max_samples, cfg.dataset.member_fraction

    def left_and_members(n_public: int) -> tuple[int, int]:
        left = len(available) - n_public
        left = min(left, int(max_samples)) if max_samples is not None else left
        return left, int(round(member_fraction * left))

    n_public = 0
    for _ in range(64):  # public = f / (1 - f) x members, members drawn from what public leaves: a fixed point
        left, n_members = left_and_members(n_public)
        wanted = int(round(fraction / (1 - fraction) * n_members))
        if wanted == n_public:
            break
        n_public = wanted
    left, n_members = left_and_members(n_public)
    if n_public < 1 or n_members < 1 or left - n_members < 1 or n_public > len(available):
        raise ConfigError(
            "dataset.public_fraction",
            f"a public share of {fraction} among {len(available)} records sets aside {n_public} public records and "
            f"leaves {left} to split into members and non-members: each side needs at least one, and the public "
            "set at least one record",
        )
    # with dataset.pool_seed every draw that defines the universe comes from it: the public records too, so every
    # seed's universe (LiRA's shadows and their target) is the same records
    pool_seed = cfg.dataset.get("pool_seed")
    rng = np.random.default_rng(derive(int(cfg.seed) if pool_seed is None else int(pool_seed), "public"))
    return np.sort(rng.choice(available, n_public, replace=False))


def nominal_size(membership) -> float | None:
    """With an audit's canaries, the training set's expected size, members + canaries / 2: the step count and
    a DP sample rate come from it, so neither depends on which canaries the coins drew in (None without)."""
    if "canary_idx" not in membership.extra:
        return None
    return len(membership.member_idx) + len(membership.extra["canary_idx"]) / 2


def dataset_record(cfg, parts, pool, membership) -> dict:
    record = {
        "name": cfg.dataset.name,
        "n_members": len(membership.member_idx),
        "n_nonmembers": len(membership.nonmember_idx),
        "pool_size": len(pool),
        "image_size": parts.dataset.image_size,
        "channels": parts.dataset.channels,
        "sha256": pool.content_hash(),
        "source": pool.source,
    }
    if "public_idx" in membership.extra:
        n_public = len(membership.extra["public_idx"])
        record.update(
            n_public=n_public,
            public_share=round(n_public / (n_public + len(membership.member_idx)), 4),  # public / (public + members)
            public_used=parts.privacy.uses_public_data,
        )
    if "member_groups" in membership.extra:
        record.update(
            n_member_groups=len(membership.extra["member_groups"]),
            n_nonmember_groups=len(membership.extra["nonmember_groups"]),
            split="provider partition" if pool.member_groups is not None else "seeded, by group",
        )
    return record
