"""The audit catches a broken mechanism: a planted bug (tests/planted.py) makes the white-box audit reject the
accountant's claim, and its claimed-form bound exceed the claimed epsilon; the unbroken mechanism never does.

Protocol (tests/planted.py): 32 members, 10 sanitized full-batch steps (a rate of 1/2 where the bug needs one
below 1), 30,000 gradient canaries (49,000 for GS-WGAN and DPAC, with one discriminator: rate 1; 190,000 on
256 x 256 rows for their rate bug), claimed epsilon 1 and 2. The default suite runs each bug once at epsilon 2
(the rate bug for dp-GAN and GS-WGAN, the doubled sum for GS-WGAN); `slow` runs the whole matrix and 20 seeds of
every unbroken mechanism (and of GS-WGAN subsampling, and 10 of the wide protocol)."""

from __future__ import annotations

import pytest

from .planted import BUGS, POISSON, SETUPS, audited_run, protocol

MECHANISMS = tuple(SETUPS)


def caught(result: dict) -> bool:
    return result["claim_rejected"] and (result["epsilon_lb_claimed_form"] or 0) > result["claimed_epsilon"]


def check(mechanism: str, bug: str, epsilon: float) -> None:
    """Caught: the claim is rejected at level 0.05, and where the accountant is near-exact (DP-SGD, dp-GAN: Opacus'
    RDP against the PRV curve) the claimed-form bound exceeds the claimed epsilon. GS-WGAN's accountant (WBK19 RDP)
    claims more epsilon than the mechanism's exact curve spends, so there the rejection is the catch (its bound
    lands near the claim: tests/planted.py's table in the README)."""
    result = audited_run(mechanism, epsilon, bug)
    assert result["claim_rejected"], result
    if mechanism in POISSON:
        assert caught(result), result


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("bug", ["noise_halved", "clipping_off"])
def test_a_planted_bug_is_caught(mechanism, bug):
    check(mechanism, bug, 2.0)


@pytest.mark.parametrize("mechanism", ["dpgan", "gswgan"])
def test_an_underreported_rate_is_caught(mechanism):
    check(mechanism, "rate_underreported", 2.0)


def test_a_row_summed_twice_is_caught():
    check("gswgan", "summed_twice", 2.0)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_the_unbroken_mechanism_passes(mechanism):
    result = audited_run(mechanism, 2.0, None)
    assert not result["claim_rejected"] and result["epsilon_lb_claimed_form"] <= result["claimed_epsilon"]


@pytest.mark.slow
@pytest.mark.parametrize("epsilon", [1.0, 2.0])
@pytest.mark.parametrize("bug", BUGS)
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_every_bug_at_every_claim(mechanism, bug, epsilon):
    check(mechanism, bug, epsilon)


@pytest.mark.slow
@pytest.mark.parametrize("epsilon", [1.0, 2.0])
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_no_false_alarm_across_seeds(mechanism, epsilon):
    for seed in range(20):
        result = audited_run(mechanism, epsilon, None, seed=seed)
        assert not result["claim_rejected"], (seed, result)
        assert (result["epsilon_lb_claimed_form"] or 0) <= result["claimed_epsilon"], (seed, result)


@pytest.mark.slow
def test_no_false_alarm_when_gswgan_subsamples():
    """Two discriminators (rate 1/2): the claimed curve is the replace-one pair's PRV composition, not the Gaussian."""
    import tests.planted as planted

    setup = tuple(o.replace("n_discriminators=1", "n_discriminators=2") for o in planted.SETUPS["gswgan"])
    original = planted.SETUPS["gswgan"]
    planted.SETUPS["gswgan"] = setup
    try:
        for seed in range(20):
            result = audited_run("gswgan", 2.0, None, seed=seed)
            assert result["claim"]["sample_rate"] == 0.5
            assert not result["claim_rejected"], (seed, result)
    finally:
        planted.SETUPS["gswgan"] = original


@pytest.mark.slow
@pytest.mark.parametrize("mechanism", [m for m in MECHANISMS if m not in POISSON])
def test_no_false_alarm_on_the_wide_rows(mechanism):
    """The protocol of GS-WGAN's and DPAC's rate bug (190,000 canaries on 256 x 256 rows), unbroken."""
    assert protocol(mechanism, "rate_underreported")[1] > protocol(mechanism, None)[1]
    for seed in range(10):
        result = audited_run(mechanism, 1.0, None, seed=seed, wide=True)
        assert not result["claim_rejected"], (seed, result)
