"""Alternates kept under ids: claimed by id, once, until they expire; a
retry on an alternate records the build failure of the host left."""

from __future__ import annotations

import pytest

from berth.config import SchedulerSettings
from berth.placement.candidates.result import AllocationRequest
from berth.scheduler import RequestSpec, Scheduler
from berth.scheduler.alternates import AlternateBook, BuildFailures
from berth.scheduler.selection import AlternateNotFound, AlternateUnavailable
from tests.support.builders import claim, new_uuid


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _keep(book: AlternateBook):
    return book.keep(
        consumer_uuid="c", project_id="p", user_id="u", consumer_type="INSTANCE",
        provider_uuid="h", cell=None, allocation_request=AllocationRequest({"h": {"VCPU": 1}}, {}),
    )


def test_an_id_is_taken_once_and_expires():
    clock = Clock()
    book = AlternateBook(ttl=60, clock=clock)
    first, second = _keep(book), _keep(book)
    assert book.take(first.alternate_id) == first
    assert book.take(first.alternate_id) is None
    clock.now += 61
    assert book.take(second.alternate_id) is None
    assert len(book) == 0


def test_build_failures_are_forgotten_after_the_window():
    clock = Clock()
    failures = BuildFailures(window=10, clock=clock)
    failures.record("h1")
    failures.record("h1")
    clock.now += 5
    failures.record("h2")
    assert failures.counts() == {"h1": 2, "h2": 1}
    clock.now += 6
    assert failures.counts() == {"h2": 1}


def _scheduler(store, clock) -> Scheduler:
    return Scheduler(store, SchedulerSettings(host_subset_size=1, selection_ttl=60), clock=clock)


def test_claiming_an_alternate_moves_the_instance(store, fleet):
    for _ in range(3):
        fleet.host(vcpu=8)
    clock = Clock()
    scheduler = _scheduler(store, clock)
    instance = scheduler.select_destinations(RequestSpec.simple({"VCPU": 2}), 1, 2).instances[0]
    failed_host = instance.chosen.provider_uuid
    alternate = instance.alternates[0]
    moved = scheduler.claim_alternate(alternate.alternate_id)
    assert moved.claimed and moved.provider_uuid == alternate.provider_uuid
    held = store.get_consumer_allocations(instance.consumer_uuid)
    assert {a.provider.uuid for a in held.allocations} == {alternate.provider_uuid}
    assert store.get_provider_usages(failed_host).usages.get("VCPU", 0) == 0
    assert scheduler.failures.counts() == {failed_host: 1}
    with pytest.raises(AlternateNotFound):
        scheduler.claim_alternate(alternate.alternate_id)


def test_a_failed_host_ranks_down_for_the_next_request(store, fleet):
    hosts = [fleet.host(vcpu=8) for _ in range(2)]
    scheduler = _scheduler(store, Clock())
    scheduler.record_build_failure(hosts[0])
    scheduler.record_build_failure(hosts[1])
    scheduler.record_build_failure(hosts[1])
    chosen = scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}), 1, 0).instances[0].chosen
    assert chosen.provider_uuid == hosts[0]


def test_an_expired_alternate_cannot_be_claimed(store, fleet):
    for _ in range(2):
        fleet.host()
    clock = Clock()
    scheduler = _scheduler(store, clock)
    alternate = scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}), 1, 1).instances[0].alternates[0]
    assert alternate.expires_at == clock.now + 60
    clock.now += 61
    with pytest.raises(AlternateNotFound):
        scheduler.claim_alternate(alternate.alternate_id)


def test_an_alternate_filled_meanwhile_is_unavailable(store, fleet):
    for _ in range(2):
        fleet.host(vcpu=4)
    scheduler = _scheduler(store, Clock())
    instance = scheduler.select_destinations(RequestSpec.simple({"VCPU": 2}), 1, 1).instances[0]
    alternate = instance.alternates[0]
    store.write_allocations([claim(new_uuid(), {alternate.provider_uuid: {"VCPU": 4}})])
    with pytest.raises(AlternateUnavailable):
        scheduler.claim_alternate(alternate.alternate_id)
    # The instance keeps what it held.
    held = store.get_consumer_allocations(instance.consumer_uuid)
    assert {a.provider.uuid for a in held.allocations} == {instance.chosen.provider_uuid}
