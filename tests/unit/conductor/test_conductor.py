"""The conductor's passes: schedule, retry on alternates, ERROR when they
run out, release, and what it finds after a conductor died half-way."""

from __future__ import annotations

import dataclasses

from berth.conductor import allocations
from berth.conductor.conductor import Conductor
from berth.conductor.model import InstanceState, Lease, Outcome
from berth.scheduler.spec import SchedulingHints
from tests.support.builders import claim
from tests.support.builds import new_build
from tests.unit.conductor.conftest import report
from tests.unit.scheduler.conftest import make_scheduler


def _held(store, consumer: str) -> dict:
    return allocations.holdings(store.get_consumer_allocations(consumer))


def _submit(store, **kwargs):
    return store.create_build(new_build(**kwargs))


def test_a_pass_schedules_and_records_host_and_alternates(store, fleet, conductor):
    hosts = {fleet.host(cell="c1") for _ in range(3)}
    build = _submit(store, instances=2, num_alternates=2)
    assert conductor.run_once() == 1
    build = store.get_build(build.id)
    for instance in build.instances:
        assert instance.state is InstanceState.BUILDING
        assert instance.host in hosts and instance.cell == "c1"
        assert [a.number for a in instance.attempts] == [1]
        assert instance.attempts[0].outcome is Outcome.BUILDING
        assert len(instance.alternates) == 2 and instance.host not in {a.host for a in instance.alternates}
        assert _held(store, instance.uuid) == {instance.host: {"VCPU": 1}}
    assert build.lease is None
    assert store.list_build_work(10) == []
    assert {a.instance_uuid for h in hosts for a in store.list_assignments(h)} == {i.uuid for i in build.instances}


def test_success_makes_the_instance_active(store, fleet, conductor):
    fleet.host()
    build = _submit(store)
    conductor.run_once()
    uuid = build.instances[0].uuid
    report(store, build.id, uuid, Outcome.SUCCEEDED)
    build = store.get_build(build.id)
    assert build.state == "ACTIVE" and build.instances[0].state is InstanceState.ACTIVE
    assert store.list_build_work(10) == []
    assert conductor.run_once() == 0


def test_a_failure_moves_the_instance_to_its_next_alternate(store, fleet, conductor):
    fleet.host(), fleet.host(), fleet.host()
    build = _submit(store, num_alternates=2)
    conductor.run_once()
    first = store.get_build(build.id).instances[0]
    report(store, build.id, first.uuid, Outcome.FAILED, "disk on fire")
    assert [b.id for b in store.list_build_work(10)] == [build.id]
    conductor.run_once()
    instance = store.get_build(build.id).instances[0]
    alternate = first.alternates[0]
    assert instance.state is InstanceState.BUILDING and instance.host == alternate.host
    assert [(a.number, a.host, a.outcome) for a in instance.attempts] == [
        (1, first.host, Outcome.FAILED), (2, alternate.host, Outcome.BUILDING),
    ]
    assert instance.attempts[0].reason == "disk on fire"
    assert instance.alternates == first.alternates[1:]
    assert _held(store, first.uuid) == {alternate.host: {"VCPU": 1}}
    assert conductor.scheduler.failures.counts() == {first.host: 1}


def test_alternates_run_out_and_the_instance_is_in_error_holding_nothing(store, fleet, conductor):
    fleet.host(), fleet.host()
    build = _submit(store, num_alternates=1)
    conductor.run_once()
    uuid = build.instances[0].uuid
    for _ in range(2):
        report(store, build.id, uuid, Outcome.FAILED, "network down")
        conductor.run_once()
    instance = store.get_build(build.id).instances[0]
    assert instance.state is InstanceState.ERROR and instance.released
    assert [a.outcome for a in instance.attempts] == [Outcome.FAILED, Outcome.FAILED]
    assert "attempt 1 on" in instance.fault and "attempt 2 on" in instance.fault
    assert "network down (hardware)" in instance.fault
    assert _held(store, uuid) == {}
    assert store.list_build_work(10) == []


def test_an_alternate_that_filled_up_is_skipped_and_listed(store, fleet, conductor):
    for _ in range(3):
        fleet.host(vcpu=1)
    build = _submit(store, num_alternates=2)
    conductor.run_once()
    first = store.get_build(build.id).instances[0]
    full, free_one = first.alternates
    store.write_allocations([claim("someone-else-" + full.host[:8], {full.host: {"VCPU": 1}})])
    report(store, build.id, first.uuid, Outcome.FAILED)
    conductor.run_once()
    instance = store.get_build(build.id).instances[0]
    assert [(a.host, a.outcome) for a in instance.attempts] == [
        (first.host, Outcome.FAILED), (full.host, Outcome.FAILED), (free_one.host, Outcome.BUILDING),
    ]
    assert instance.attempts[1].reason.startswith("claim refused")
    assert _held(store, first.uuid) == {free_one.host: {"VCPU": 1}}


def test_no_valid_host_is_an_error_that_explains(store, fleet, conductor):
    fleet.host(vcpu=2)
    build = _submit(store, vcpu=16)
    conductor.run_once()
    instance = store.get_build(build.id).instances[0]
    assert instance.state is InstanceState.ERROR
    assert "VCPU:16 (no host)" in instance.fault
    assert instance.attempts == ()


def test_a_claim_left_by_a_dead_conductor_is_freed_before_scheduling(store, fleet, conductor):
    left_on, other = fleet.host(), fleet.host()
    build = _submit(store, num_alternates=1)
    uuid = build.instances[0].uuid
    store.write_allocations([claim(uuid, {left_on: {"VCPU": 1}}, generation=None)])
    conductor.run_once()
    instance = store.get_build(build.id).instances[0]
    assert instance.state is InstanceState.BUILDING
    assert _held(store, uuid) == {instance.host: {"VCPU": 1}}
    assert store.get_provider_usages(left_on).usages.get("VCPU", 0) + store.get_provider_usages(other).usages.get("VCPU", 0) == 1


def test_a_move_made_by_a_dead_conductor_is_adopted(store, fleet, conductor):
    fleet.host(), fleet.host(), fleet.host()
    build = _submit(store, num_alternates=2)
    conductor.run_once()
    first = store.get_build(build.id).instances[0]
    report(store, build.id, first.uuid, Outcome.FAILED)
    # A conductor moved the instance to its first alternate and died
    # before recording it.
    allocations.move_to(store, build.request_spec, first.uuid, first.alternates[0])
    conductor.run_once()
    instance = store.get_build(build.id).instances[0]
    assert instance.host == first.alternates[0].host
    assert [a.outcome for a in instance.attempts] == [Outcome.FAILED, Outcome.BUILDING]
    assert _held(store, first.uuid) == {first.alternates[0].host: {"VCPU": 1}}


def test_a_build_leased_by_another_conductor_waits_for_the_lease_to_expire(store, fleet):
    fleet.host()
    now = [1000.0]
    build = _submit(store)
    store.save_build(dataclasses.replace(build, lease=Lease("another", 1030.0)))
    conductor = Conductor(make_scheduler(store), owner="me", clock=lambda: now[0])
    assert conductor.run_once() == 0
    assert store.get_build(build.id).instances[0].state is InstanceState.SCHEDULING
    now[0] = 1031.0
    assert conductor.run_once() == 1
    assert store.get_build(build.id).instances[0].state is InstanceState.BUILDING


def test_a_deleted_instance_is_released_by_the_next_pass(store, fleet, conductor):
    from berth.conductor.records import update
    from berth.conductor.transitions import deleted

    fleet.host()
    build = _submit(store)
    conductor.run_once()
    uuid = build.instances[0].uuid
    update(store, build.id, deleted(uuid, 2.0))
    assert _held(store, uuid)  # the API frees it too; here only the record changed
    conductor.run_once()
    instance = store.get_build(build.id).instances[0]
    assert instance.state is InstanceState.DELETED and instance.released
    assert instance.attempts[0].outcome is Outcome.FAILED
    assert _held(store, uuid) == {}
    assert store.list_assignments(instance.host) == []


def test_instances_of_one_build_stay_in_the_hinted_cell(store, fleet, conductor):
    in_c2 = {fleet.host(cell="c2") for _ in range(3)}
    fleet.host(cell="c1")
    build = _submit(store, instances=2, num_alternates=2, hints=SchedulingHints(cell="c2"))
    conductor.run_once()
    for instance in store.get_build(build.id).instances:
        assert instance.host in in_c2 and {a.host for a in instance.alternates} <= in_c2


def test_an_attempt_not_reported_by_its_deadline_fails_and_moves_on(store, fleet):
    import pytest

    from berth.conductor.conductor import ConductorSettings
    from berth.conductor.records import update
    from berth.conductor.transitions import AttemptNotCurrent, reported

    fleet.host(), fleet.host()
    now = [1000.0]
    conductor = Conductor(
        make_scheduler(store), ConductorSettings(attempt_timeout=60), owner="timer", clock=lambda: now[0],
    )
    build = _submit(store, num_alternates=1)
    conductor.run_once()
    first = store.get_build(build.id).instances[0]
    assert first.attempts[0].deadline == 1060.0
    now[0] = 1059.0
    assert conductor.run_once() == 0
    now[0] = 1061.0
    assert conductor.run_once() == 1
    instance = store.get_build(build.id).instances[0]
    assert [(a.host, a.outcome) for a in instance.attempts] == [
        (first.host, Outcome.FAILED), (first.alternates[0].host, Outcome.BUILDING),
    ]
    assert instance.attempts[0].reason == f"no report from {first.host} within 60 s"
    assert instance.attempts[1].deadline == 1121.0
    with pytest.raises(AttemptNotCurrent):
        update(store, build.id, reported(first.uuid, 1, Outcome.SUCCEEDED, None, None, 1062.0))
