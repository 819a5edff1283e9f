"""The audit catches a broken mechanism: a planted bug (tests/planted.py) makes the white-box audit reject the
accountant's claim, and its claimed-form bound exceed the claimed epsilon; the unbroken mechanism never does.

Protocol (tests/planted.py): 32 members, 10 sanitized full-batch steps (a rate of 1/2 where the bug needs one
below 1), 30,000 gradient canaries (45,000 for GS-WGAN and DPAC, with one discriminator: rate 1), claimed
epsilon 1 and 2. The default suite runs each bug once at epsilon 2 (the rate bug only for dp-GAN, its
accounting being the slow one); `slow` runs the whole matrix and 20 seeds of every unbroken mechanism."""

from __future__ import annotations

import pytest

from .planted import BUGS, POISSON, SETUPS, audited_run

MECHANISMS = tuple(SETUPS)
#: the bug the audit cannot catch here, and why
NOT_CAUGHT = {
    ("gswgan", "rate_underreported"): "sampling without replacement has no tight privacy profile here (its RDP "
    "curve is far looser than the mechanism's)",
    ("dpac", "rate_underreported"): "as GS-WGAN's",
}


def caught(result: dict) -> bool:
    return result["claim_rejected"] and (result["epsilon_lb_claimed_form"] or 0) > result["claimed_epsilon"]


def check(mechanism: str, bug: str, epsilon: float) -> None:
    result = audited_run(mechanism, epsilon, bug)
    if (mechanism, bug) in NOT_CAUGHT:
        pytest.xfail(NOT_CAUGHT[(mechanism, bug)])
    if mechanism not in POISSON and bug != "rate_underreported" and epsilon < 2:
        # the claim is rejected; the exact epsilon of GS-WGAN's claim sits well below its (RDP) accountant's
        assert result["claim_rejected"], result
        return
    assert caught(result), result


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("bug", ["noise_halved", "clipping_off"])
def test_a_planted_bug_is_caught(mechanism, bug):
    check(mechanism, bug, 2.0)


def test_an_underreported_rate_is_caught():
    check("dpgan", "rate_underreported", 2.0)


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
