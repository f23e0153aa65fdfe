"""Builds in the store: whole documents under compare-and-set on their
version, the conductor's queue, the agents' assignments and paging; the
same on every backend."""

from __future__ import annotations

import dataclasses

import pytest

from berth.conductor.model import (
    Attempt,
    BuildExists,
    BuildNotFound,
    FailureKind,
    InstanceState,
    Lease,
    Outcome,
)
from berth.placement import errors
from berth.scheduler.spec import SchedulingHints
from tests.support.builders import new_uuid
from tests.support.builds import building, new_build


def test_a_build_is_kept_whole(store):
    build = new_build(instances=2, num_alternates=3, hints=SchedulingHints(cell="c1"))
    created = store.create_build(build)
    assert created.version == 1
    read = store.get_build(build.id)
    assert read == created
    assert read.request_spec == build.request_spec
    assert [i.state for i in read.instances] == [InstanceState.SCHEDULING] * 2


def test_a_build_id_is_taken_once(store):
    build = new_build()
    store.create_build(build)
    with pytest.raises(BuildExists):
        store.create_build(build)


def test_unknown_build(store):
    with pytest.raises(BuildNotFound):
        store.get_build(new_uuid())
    with pytest.raises(BuildNotFound):
        store.save_build(dataclasses.replace(new_build(), version=1))


def test_save_is_compare_and_set_on_the_version(store):
    created = store.create_build(new_build())
    host = new_uuid()
    saved = store.save_build(building(created, host, alternates=(new_uuid(),)))
    assert saved.version == 2
    assert store.get_build(created.id) == saved
    with pytest.raises(errors.ConcurrentUpdate):
        store.save_build(dataclasses.replace(created, lease=Lease("me", 1.0)))
    assert store.get_build(created.id) == saved


def test_the_queue_holds_builds_that_wait_for_a_conductor(store):
    waiting = store.create_build(new_build())
    host = new_uuid()
    running = store.save_build(building(store.create_build(new_build()), host))
    assert [b.id for b in store.list_build_work(10)] == [waiting.id]
    failed_attempt = dataclasses.replace(
        running.instances[0].attempts[0], outcome=Outcome.FAILED, reason="boom",
        failure_kind=FailureKind.NETWORK, finished_at=2.0,
    )
    store.save_build(running.with_instance(dataclasses.replace(running.instances[0], attempts=(failed_attempt,))))
    assert [b.id for b in store.list_build_work(10)] == [waiting.id, running.id]
    assert [b.id for b in store.list_build_work(1)] == [waiting.id]
    store.save_build(building(store.get_build(waiting.id), host))
    assert [b.id for b in store.list_build_work(10)] == [running.id]


def test_a_running_attempt_past_its_deadline_is_work(store):
    host = new_uuid()
    created = store.create_build(new_build())
    running = building(created, host)
    instance = running.instances[0]
    attempt = dataclasses.replace(instance.attempts[0], deadline=500.0)
    store.save_build(running.with_instance(dataclasses.replace(instance, attempts=(attempt,))))
    assert store.list_build_work(10) == []
    assert store.list_build_work(10, now=499.0) == []
    assert [b.id for b in store.list_build_work(10, now=501.0)] == [created.id]
    assert store.get_build(created.id).next_deadline == 500.0


def test_assignments_are_the_attempts_building_on_a_host(store):
    host, other = new_uuid(), new_uuid()
    build = store.save_build(building(store.create_build(new_build(instances=2)), host))
    assignments = store.list_assignments(host)
    assert sorted(a.instance_uuid for a in assignments) == sorted(i.uuid for i in build.instances)
    assert all(a.build_id == build.id and a.attempt == 1 for a in assignments)
    assert assignments[0].allocations == {host: {"VCPU": 1}}
    assert store.list_assignments(other) == []
    # The first instance moves on to another host, the second succeeds.
    first, second = build.instances
    moved = dataclasses.replace(
        first, host=other, claimed=building(build, other).instances[0].claimed,
        attempts=(
            dataclasses.replace(first.attempts[0], outcome=Outcome.FAILED, finished_at=1.0),
            Attempt(2, other, Outcome.BUILDING, started_at=1.0),
        ),
    )
    done = dataclasses.replace(
        second, state=InstanceState.ACTIVE,
        attempts=(dataclasses.replace(second.attempts[0], outcome=Outcome.SUCCEEDED, finished_at=1.0),),
    )
    store.save_build(build.with_instance(moved).with_instance(done))
    assert store.list_assignments(host) == []
    [assignment] = store.list_assignments(other)
    assert (assignment.instance_uuid, assignment.attempt) == (first.uuid, 2)


def test_builds_are_listed_in_pages_in_creation_order(store):
    made = []
    for n in range(5):
        build = new_build()
        made.append(store.create_build(dataclasses.replace(build, created_at=1000.0 + n)).id)
    first = store.list_builds(2)
    assert [b.id for b in first] == made[:2]
    second = store.list_builds(2, marker=first[-1].id)
    assert [b.id for b in second] == made[2:4]
    assert [b.id for b in store.list_builds(10, marker=made[-1])] == []
    with pytest.raises(BuildNotFound):
        store.list_builds(2, marker=new_uuid())


# -- the conductor over each backend ----------------------------------------------------


def _hosts(store, count: int) -> list[str]:
    from berth.placement.model import Inventory, ProviderRegistration

    uuids = [new_uuid() for _ in range(count)]
    store.register_providers([
        ProviderRegistration(u, f"host-{u[:8]}", inventories={"VCPU": Inventory("VCPU", 4)}, cell="c1")
        for u in uuids
    ])
    return uuids


def _conductor(store, owner: str = "backend-test", clock=None):
    import random
    import time

    from berth.conductor.conductor import Conductor
    from berth.config import SchedulerSettings
    from berth.scheduler import Scheduler

    scheduler = Scheduler(store, SchedulerSettings(host_subset_size=1), rng=random.Random(3))
    return Conductor(scheduler, owner=owner, clock=clock or time.time)


def _fail_current(store, build_id: str, uuid: str) -> None:
    from berth.conductor.records import update
    from berth.conductor.transitions import reported

    number = store.get_build(build_id).instance(uuid).current_attempt.number
    update(store, build_id, reported(uuid, number, Outcome.FAILED, "boom", FailureKind.NETWORK, 1.0))


def test_a_conductor_retries_on_alternates_then_errors(store):
    from berth.conductor.allocations import holdings

    hosts = _hosts(store, 3)
    build = store.create_build(new_build(num_alternates=2))
    uuid = build.instances[0].uuid
    conductor = _conductor(store)
    conductor.run_once()
    tried = []
    for _ in range(3):
        instance = store.get_build(build.id).instance(uuid)
        assert instance.state is InstanceState.BUILDING and instance.host in hosts
        assert holdings(store.get_consumer_allocations(uuid)) == {instance.host: {"VCPU": 1}}
        assert [a.instance_uuid for a in store.list_assignments(instance.host)] == [uuid]
        tried.append(instance.host)
        _fail_current(store, build.id, uuid)
        conductor.run_once()
    instance = store.get_build(build.id).instance(uuid)
    assert instance.state is InstanceState.ERROR and instance.released
    assert sorted(tried) == sorted(hosts)
    assert [a.host for a in instance.attempts] == tried
    assert store.get_consumer_allocations(uuid).allocations == ()
    assert store.list_build_work(10) == []
    assert all(store.list_assignments(h) == [] for h in hosts)


def test_one_conductor_at_a_time_holds_a_build(store):
    from berth.conductor import lease

    build = store.create_build(new_build())
    mine = lease.take(store, build, "one", ttl=30, now=100.0)
    assert mine is not None and mine.lease == Lease("one", 130.0)
    # Another conductor, with the record as it read it before: refused.
    assert lease.take(store, build, "two", ttl=30, now=101.0) is None
    assert lease.take(store, store.get_build(build.id), "two", ttl=30, now=101.0) is None
    taken_over = lease.take(store, store.get_build(build.id), "two", ttl=30, now=131.0)
    assert taken_over is not None and taken_over.lease.owner == "two"
    lease.give_back(store, build.id, "one")
    assert store.get_build(build.id).lease.owner == "two"
    lease.give_back(store, build.id, "two")
    assert store.get_build(build.id).lease is None
