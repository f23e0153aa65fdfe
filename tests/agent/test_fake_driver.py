"""FakeDriver: reproducible outcomes, the configured rate and kinds, latency."""

from __future__ import annotations

import collections
import uuid as uuidlib

import pytest

from berth.agent.driver import BuildRequest, FailureKind, FakeDriver, FakeDriverOptions, Outcome


def attempt(instance: str | None = None, number: int = 1) -> BuildRequest:
    return BuildRequest("build-1", instance or str(uuidlib.uuid4()), number, {})


# A fixed set of instances, so the counts below are the same on every run.
INSTANCES = [str(uuidlib.uuid5(uuidlib.NAMESPACE_OID, str(i))) for i in range(2000)]


def no_sleep(seconds: float) -> None:
    pass


def outcomes(options: FakeDriverOptions, number: int = 1) -> list:
    driver = FakeDriver(options, sleep=no_sleep)
    return [driver.build(attempt(instance, number)) for instance in INSTANCES]


def test_the_same_attempt_gets_the_same_outcome_from_another_driver():
    options = FakeDriverOptions(failure_rate=0.5, seed=7)
    first = outcomes(options)
    assert first == outcomes(options)
    assert {r.outcome for r in first} == {Outcome.SUCCEEDED, Outcome.FAILED}


def test_the_seed_and_the_attempt_number_change_the_decisions():
    base = outcomes(FakeDriverOptions(failure_rate=0.5, seed=1))
    other_seed = outcomes(FakeDriverOptions(failure_rate=0.5, seed=2))
    second_attempt = outcomes(FakeDriverOptions(failure_rate=0.5, seed=1), number=2)
    assert [r.outcome for r in base] != [r.outcome for r in other_seed]
    assert [r.outcome for r in base] != [r.outcome for r in second_attempt]


def test_the_failure_rate_is_the_fraction_of_attempts_that_fail():
    failed = sum(r.outcome is Outcome.FAILED for r in outcomes(FakeDriverOptions(failure_rate=0.1)))
    assert 0.08 * len(INSTANCES) < failed < 0.12 * len(INSTANCES)


def test_rates_zero_and_one_are_never_and_always():
    assert all(r.outcome is Outcome.SUCCEEDED and r.failure_kind is None
               for r in outcomes(FakeDriverOptions(failure_rate=0.0)))
    assert all(r.outcome is Outcome.FAILED for r in outcomes(FakeDriverOptions(failure_rate=1.0)))


def test_failures_take_the_kinds_in_proportion_to_their_weights():
    options = FakeDriverOptions(
        failure_rate=1.0,
        failure_kinds={FailureKind.RESOURCE_RACE: 3, FailureKind.NETWORK: 1, FailureKind.HARDWARE: 0},
    )
    kinds = collections.Counter(r.failure_kind for r in outcomes(options))
    assert set(kinds) == {FailureKind.RESOURCE_RACE, FailureKind.NETWORK}
    assert 2.5 < kinds[FailureKind.RESOURCE_RACE] / kinds[FailureKind.NETWORK] < 3.5


def test_a_failure_says_its_kind_and_the_host():
    result = FakeDriver(FakeDriverOptions(failure_rate=1.0,
                                          failure_kinds={FailureKind.HARDWARE: 1}),
                        host="cn7", sleep=no_sleep).build(attempt())
    assert result.failure_kind is FailureKind.HARDWARE
    assert "hardware" in result.reason and "cn7" in result.reason


def test_a_build_sleeps_its_latency_plus_a_reproducible_share_of_the_jitter():
    slept: list[float] = []
    options = FakeDriverOptions(latency=2.0, latency_jitter=1.0)
    driver = FakeDriver(options, sleep=slept.append)
    for instance in INSTANCES[:50]:
        driver.build(attempt(instance))
    assert all(2.0 <= seconds < 3.0 for seconds in slept)
    assert len(set(slept)) > 40
    again: list[float] = []
    other = FakeDriver(options, sleep=again.append)
    for instance in INSTANCES[:50]:
        other.build(attempt(instance))
    assert again == slept


@pytest.mark.parametrize("options", [
    dict(failure_rate=1.5),
    dict(failure_rate=-0.1),
    dict(latency=-1.0),
    dict(failure_rate=0.1, failure_kinds={FailureKind.NETWORK: 0}),
    dict(failure_kinds={FailureKind.NETWORK: -1}),
])
def test_impossible_options_are_refused(options):
    with pytest.raises(ValueError):
        FakeDriverOptions(**options)
