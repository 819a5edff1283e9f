"""LiRA with shadow models: the Gaussian fits by hand, the shadows' data flow, and refusals before training."""

from __future__ import annotations

import numpy as np
import pytest

from privgan_runner.attacks.lira import _fit
from privgan_runner.errors import ConfigError

from .conftest import TINY, compose_config

SHADOW = ["dataset.pool_seed=0", "dataset.member_fraction=0.25", "metric=[gen_gap]"]


def test_gaussian_fits_by_hand():
    stats = np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 60.0]])  # 3 shadows x 2 records
    mask = np.array([[True, True], [True, False], [False, True]])
    mean, sd = _fit(stats, mask, pooled=False)
    assert mean.tolist() == [2.0, 35.0]
    assert sd == pytest.approx([np.sqrt(2.0), np.sqrt(1250.0)])  # sample std (n - 1) of {1, 3} and {10, 60}
    mean, sd = _fit(stats, mask, pooled=True)
    # residuals -1, 1, -25, 25 over 4 - 2 degrees of freedom
    assert sd == pytest.approx([np.sqrt((1 + 1 + 625 + 625) / 2)] * 2)


@pytest.fixture
def shadows(tmp_path):
    from privgan_runner import pipeline

    for seed in (10, 11, 12, 13):
        cfg = compose_config(*TINY, *SHADOW, f"seed={seed}", "stages=[train]")
        pipeline.run(cfg, run_dir=tmp_path / "shadows" / str(seed))
    return tmp_path / "shadows"


def test_lira_reads_its_shadows_in_and_out_and_scores_the_target(tmp_path, shadows):
    from privgan_runner import pipeline
    from privgan_runner.data.split import Membership

    cfg = compose_config(
        *TINY, *SHADOW, "attack=[white_box,top_m,lira]", f"attack.lira.shadow_dir={shadows}", "attack.lira.bootstrap=0"
    )
    results = pipeline.run(cfg, run_dir=shadows / "0")  # the target inside shadow_dir is not its own shadow
    lira = results["attacks"]["lira"]
    assert lira["n_shadows"] == 4 and lira["global_variance"] is True and lira["shadow_seeds"] == [10, 11, 12, 13]
    assert len(lira["most_exposed"]) == 10 and ("online" in lira or "online_reason" in lira)
    # the scores are the offline test's: (phi - mu_out) / sigma_out with the shadows' own in/out
    with np.load(shadows / "0" / "scores" / "lira.npz") as f:
        scores, idx = f["scores"], f["record_idx"]
    target = Membership.load(shadows / "0" / "membership.npz")
    assert set(idx) == set(target.member_idx) | set(target.nonmember_idx)
    shadow_members = [Membership.load(shadows / str(s) / "membership.npz").member_idx for s in (10, 11, 12, 13)]
    assert any(set(m) != set(target.member_idx) for m in shadow_members)
    assert np.isfinite(scores).all() and len(np.unique(scores)) > len(scores) // 2
    from privgan_runner.report.__main__ import build_report

    report = build_report([shadows / "0"], tmp_path / "report")
    assert (
        "## Most exposed records" in report["markdown"] and str(lira["most_exposed"][0]["record"]) in report["markdown"]
    )


def test_shadows_of_another_configuration_are_refused_before_training(tmp_path, shadows):
    from privgan_runner import pipeline

    cfg = compose_config(
        *TINY, *SHADOW, "model.width=16", "attack=[white_box,top_m,lira]", f"attack.lira.shadow_dir={shadows}"
    )
    with pytest.raises(ConfigError, match="attack.lira.shadow_dir.*model.width"):
        pipeline.run(cfg, run_dir=tmp_path / "target")
    assert not (tmp_path / "target" / "job.json").exists()
    with pytest.raises(ConfigError, match="attack.lira.shadow_dir"):
        pipeline.run(compose_config(*TINY, "attack=[white_box,top_m,lira]"), run_dir=tmp_path / "no_dir")


def test_black_box_lira_reads_each_shadows_samples(tmp_path, shadows):
    """signal=distance: the statistic is minus the distance to each model's own samples (no D is read)."""
    from privgan_runner import pipeline

    cfg = compose_config(
        *TINY,
        *SHADOW,
        "attack=[white_box,top_m,lira]",
        f"attack.lira.shadow_dir={shadows}",
        "attack.lira.signal=distance",
        "attack.lira.n_generated=64",
        "attack.lira.bootstrap=0",
    )
    results = pipeline.run(cfg, run_dir=tmp_path / "target")
    lira = results["attacks"]["lira"]
    assert lira["signal"] == "distance" and lira["n_shadows"] == 4 and 0 <= lira["auc"] <= 1
    with pytest.raises(ConfigError, match="variant"):
        pipeline.run(
            compose_config(*TINY, "attack=[white_box,top_m,lira]", "attack.lira.variant=bogus"),
            run_dir=tmp_path / "bad",
        )


def test_shadows_that_hold_an_attacked_record_in_all_of_them_are_refused_before_training(tmp_path):
    """Two shadows trained on 90% of the universe each share most records: offline LiRA has no "out" model for
    them. Their membership files say so before the target trains (it used to fail after training)."""
    from privgan_runner import pipeline

    crowded = ["dataset.pool_seed=0", "dataset.member_fraction=0.9", "metric=[gen_gap]"]
    for seed in (10, 11):
        pipeline.run(compose_config(*TINY, *crowded, f"seed={seed}", "stages=[train]"), run_dir=tmp_path / str(seed))
    cfg = compose_config(*TINY, *crowded, "attack=[white_box,top_m,lira]", f"attack.lira.shadow_dir={tmp_path}")
    with pytest.raises(ConfigError, match="in every one of the 2 shadows"):
        pipeline.run(cfg, run_dir=tmp_path / "target")
    assert not (tmp_path / "target" / "job.json").exists()


@pytest.mark.parametrize("key", ["n_generated", "chunk"])
def test_lira_sizes_are_checked_with_the_config(key):
    from privgan_runner.pipeline import build_components

    with pytest.raises(ConfigError) as err:
        build_components(compose_config("attack=[white_box,lira]", f"attack.lira.{key}=0"))
    assert err.value.key == f"attack.lira.{key}"
