"""Alternate ids: signed, readable by any scheduler sharing the secret,
refused when changed, expired or signed under another secret; claimed
under a compare-and-set; a retry on an alternate records the build failure
of the host left."""

from __future__ import annotations

import base64

import pytest

from berth.config import SchedulerSettings
from berth.placement.candidates.result import AllocationRequest
from berth.scheduler import RequestSpec, Scheduler
from berth.scheduler.alternates import AlternateIds, BuildFailures, InvalidAlternateId
from berth.scheduler.selection import AlternateNotFound, AlternateUnavailable
from tests.support.builders import claim, new_uuid

SECRET = b"a secret the deployment shares"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _issue(ids: AlternateIds, cell: str | None = "cell1"):
    host, pf = new_uuid(), new_uuid()
    return ids.issue(
        consumer_uuid=new_uuid(), project_id="p", user_id="u", consumer_type="INSTANCE",
        provider_uuid=host, cell=cell,
        allocation_request=AllocationRequest(
            {host: {"VCPU": 2, "MEMORY_MB": 2048}, pf: {"SRIOV_NET_VF": 1}}, {"": (host,), "_NET": (pf,)},
        ),
    )


def test_an_id_reads_back_as_the_alternate_it_was_issued_for():
    clock = Clock()
    alternate_id, held = _issue(AlternateIds(SECRET, ttl=60, clock=clock))
    assert held.expires_at == clock.now + 60
    # Another process of the deployment: the same secret, nothing else shared.
    other_process = AlternateIds(SECRET, ttl=60, clock=clock)
    assert other_process.read(alternate_id) == held
    cellless_id, cellless = _issue(AlternateIds(SECRET, ttl=60, clock=clock), cell=None)
    assert other_process.read(cellless_id) == cellless and cellless.cell is None


def test_an_id_is_url_safe_and_short():
    alternate_id, _ = _issue(AlternateIds(SECRET, ttl=60))
    assert set(alternate_id) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    # Two providers (a compute node and a NIC function): a few hundred
    # characters, far below what URLs and HTTP servers accept.
    assert len(alternate_id) < 600


def test_a_changed_id_is_refused():
    ids = AlternateIds(SECRET, ttl=60)
    alternate_id, _ = _issue(ids)
    raw = bytearray(base64.urlsafe_b64decode(alternate_id + "=" * (-len(alternate_id) % 4)))
    for position in (1, 20, len(raw) - 1):
        changed = bytearray(raw)
        changed[position] ^= 0x01
        tampered = base64.urlsafe_b64encode(bytes(changed)).rstrip(b"=").decode()
        with pytest.raises(InvalidAlternateId, match="signature does not match"):
            ids.read(tampered)


@pytest.mark.parametrize("alternate_id", ["", "not base64!", "abc", "A" * 5000, "AQ" + "A" * 30, "x/../y"])
def test_a_malformed_id_is_refused(alternate_id):
    with pytest.raises(InvalidAlternateId):
        AlternateIds(SECRET, ttl=60).read(alternate_id)


def test_an_id_signed_under_another_secret_is_refused():
    alternate_id, _ = _issue(AlternateIds(b"another deployment", ttl=60))
    with pytest.raises(InvalidAlternateId, match="another alternate_secret"):
        AlternateIds(SECRET, ttl=60).read(alternate_id)


def test_an_id_expires():
    clock = Clock()
    ids = AlternateIds(SECRET, ttl=60, clock=clock)
    alternate_id, _ = _issue(ids)
    clock.now += 59
    ids.read(alternate_id)
    clock.now += 1
    with pytest.raises(InvalidAlternateId, match="expired"):
        ids.read(alternate_id)


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
    generation = store.get_consumer_allocations(instance.consumer_uuid).consumer.generation
    # Claimed again (an answer lost on the way): the same selection, nothing written.
    assert scheduler.claim_alternate(alternate.alternate_id) == moved
    assert store.get_consumer_allocations(instance.consumer_uuid).consumer.generation == generation


def test_an_alternate_is_claimable_by_another_scheduler_sharing_the_secret(store, fleet):
    for _ in range(2):
        fleet.host(vcpu=8)
    settings = SchedulerSettings(host_subset_size=1, alternate_secret="shared")
    issuer, claimer = Scheduler(store, settings), Scheduler(store, settings)
    instance = issuer.select_destinations(RequestSpec.simple({"VCPU": 2}), 1, 1).instances[0]
    alternate = instance.alternates[0]
    assert claimer.claim_alternate(alternate.alternate_id).provider_uuid == alternate.provider_uuid
    held = store.get_consumer_allocations(instance.consumer_uuid)
    assert {a.provider.uuid for a in held.allocations} == {alternate.provider_uuid}
    stranger = Scheduler(store, SchedulerSettings(alternate_secret="another deployment"))
    with pytest.raises(AlternateNotFound, match="another alternate_secret"):
        stranger.claim_alternate(alternate.alternate_id)


def test_claiming_two_alternates_of_one_instance_moves_it_twice(store, fleet):
    for _ in range(3):
        fleet.host(vcpu=8)
    scheduler = _scheduler(store, Clock())
    instance = scheduler.select_destinations(RequestSpec.simple({"VCPU": 2}), 1, 2).instances[0]
    first, second = instance.alternates
    scheduler.claim_alternate(first.alternate_id)
    scheduler.claim_alternate(second.alternate_id)
    held = store.get_consumer_allocations(instance.consumer_uuid)
    assert {a.provider.uuid for a in held.allocations} == {second.provider_uuid}
    assert store.get_provider_usages(first.provider_uuid).usages.get("VCPU", 0) == 0
    assert scheduler.failures.counts() == {instance.chosen.provider_uuid: 1, first.provider_uuid: 1}


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
    with pytest.raises(AlternateNotFound, match="expired"):
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
