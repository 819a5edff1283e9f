"""The white-box audit's wiring: every DP mechanism declares where its canaries enter, bad input is refused before
anything is written, and a run carries the audit's figures (results.json audit.gradient)."""

from __future__ import annotations

import json

import pytest
from hydra.utils import get_class

from privgan_runner.errors import ConfigError
from privgan_runner.pipeline import run

from .conftest import TINY, compose_config
from .test_released_g import accounted_options


def test_every_dp_mechanism_declares_where_its_canaries_enter():
    import yaml

    from .conftest import CONF

    for name in accounted_options():
        target = yaml.safe_load((CONF / "privacy" / f"{name}.yaml").read_text())["_target_"]
        assert get_class(target).canary_entry, f"privacy={name} declares no canary entry point"


def refusal(tmp_path, *overrides) -> ConfigError:
    cfg = compose_config(*TINY, "check_only=true", *overrides)
    with pytest.raises(ConfigError) as caught:
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before anything is written
    return caught.value


@pytest.mark.parametrize("privacy", ["none", "pigan", "privgan"])
def test_a_mechanism_without_a_sanitized_channel_is_refused(tmp_path, privacy):
    err = refusal(tmp_path, f"privacy={privacy}", "audit=gradient", "audit.canaries=null", "audit.gradient_canaries=10")
    assert "audit.gradient_canaries" in str(err) and "sanitized channel" in str(err)


@pytest.mark.parametrize(
    "privacy, extra",
    [
        ("dpsgd", ()),  # D's largest tensor: 2,048 entries at width 8
        (
            "gswgan",
            (
                "objective=wasserstein",
                "regularizer=gradient_penalty",
                "objective.n_critic=1",
                "privacy.n_discriminators=2",
            ),
        ),
    ],
)
def test_more_canaries_than_the_channel_holds_are_refused(tmp_path, privacy, extra):
    err = refusal(
        tmp_path, f"privacy={privacy}", *extra, "audit=gradient", "audit.canaries=null", "audit.gradient_canaries=5000"
    )
    assert "audit.gradient_canaries" in str(err) and "do not fit" in str(err)


@pytest.mark.parametrize(
    "override, key",
    [
        ("audit.gradient_canaries=-1", "gradient_canaries"),
        ("audit.gradient_canaries=2000000", "gradient_canaries"),
        ("audit.gradient_scale=0.5", "gradient_scale"),
        ("audit.gradient_statistic=median", "gradient_statistic"),
        ("audit.ceiling_repeats=0", "ceiling_repeats"),
    ],
)
def test_bad_gradient_audit_settings_name_their_key(tmp_path, override, key):
    err = refusal(tmp_path, "privacy=dpsgd", "audit=gradient", "audit.canaries=null", override)
    assert key in str(err)


def test_a_dp_run_reports_the_white_box_audit(tmp_path):
    cfg = compose_config(
        *TINY,
        "privacy=dpsgd",
        "privacy.epsilon=2",
        "audit=gradient",
        "audit.canaries=null",
        "audit.gradient_canaries=300",
        "audit.ceiling_repeats=1",
        "stages=[train,attack]",
    )
    results = run(cfg, tmp_path / "run")
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    figures = on_disk["audit"]["gradient"]
    assert figures == json.loads(json.dumps(results["audit"]["gradient"]))
    assert figures["n_canaries"] == 300 and figures["steps"] > 0 and figures["entries"] > 0
    assert figures["relation"] == "add_remove" and figures["sample_rate"] == on_disk["privacy"]["sample_rate"]
    assert figures["claim_rejected"] is False
    assert 0 <= figures["epsilon_lb"] <= on_disk["privacy"]["epsilon"]
    assert figures["ceiling_epsilon_lb"] is not None
    assert (tmp_path / "run" / "checkpoints" / "gradient_canaries.npz").is_file()
