"""The claim-and-discard walk, same-cell alternates, multi-instance claims
and their rollback, on a real SQLite store."""

from __future__ import annotations

import pytest

from berth.placement.candidates.result import AllocationRequest
from berth.placement import errors
from berth.scheduler import NoValidHost, RequestSpec, SchedulingHints
from berth.scheduler.selection import ConsumerExists
from tests.support.builders import claim, new_uuid
from tests.unit.scheduler.conftest import make_scheduler


class RacingStore:
    """The real store, except that on the scheduler's first write another
    scheduler fills every host of ``victims`` that the write names, just
    before it lands: the race a claim in the scheduler must survive."""

    def __init__(self, store, victims: set[str]) -> None:
        self._store = store
        self.victims = set(victims)
        self.stolen: list[str] = []
        self.raced = False

    def __getattr__(self, name):
        return getattr(self._store, name)

    def write_allocations(self, claims):
        if not self.raced:
            self.raced = True
            named = {p for c in claims for p in c.allocations}
            for provider in sorted(named & self.victims):
                self.stolen.append(provider)
                free = self._store.get_inventories(provider).inventories["VCPU"].total
                free -= self._store.get_provider_usages(provider).usages.get("VCPU", 0)
                self._store.write_allocations([claim(new_uuid(), {provider: {"VCPU": free}})])
        return self._store.write_allocations(claims)


def _usage(store, host: str) -> int:
    return store.get_provider_usages(host).usages.get("VCPU", 0)


def test_a_refused_claim_discards_the_host_and_claims_the_next(store, fleet):
    best = fleet.host(vcpu=16)
    second = fleet.host(vcpu=8)
    racing = RacingStore(store, {best})
    scheduler = make_scheduler(racing)
    result = scheduler.select_destinations(RequestSpec.simple({"VCPU": 2}), 1, 1)
    chosen = result.instances[0].chosen
    assert racing.stolen == [best]
    assert chosen.provider_uuid == second and chosen.claimed
    assert result.stats.claim_conflicts == 1
    # The discarded host is not offered as an alternate either.
    assert result.instances[0].alternates == ()
    assert _usage(store, second) == 2


def test_the_chosen_host_is_claimed_in_the_store(store, fleet):
    host = fleet.host(vcpu=8)
    scheduler = make_scheduler(store)
    result = scheduler.select_destinations(RequestSpec.simple({"VCPU": 3}, project_id="p1"), 1, 0)
    consumer = result.instances[0].consumer_uuid
    held = store.get_consumer_allocations(consumer)
    assert held.consumer.project_id == "p1"
    assert {a.provider.uuid: dict(a.resources) for a in held.allocations} == {host: {"VCPU": 3}}


def test_alternates_come_from_the_chosen_hosts_cell_and_are_not_claimed(store, fleet):
    big_in_c1 = fleet.host(vcpu=64, cell="c1")
    c1 = [fleet.host(vcpu=8, cell="c1") for _ in range(3)]
    c2 = [fleet.host(vcpu=32, cell="c2") for _ in range(3)]
    scheduler = make_scheduler(store, weighers=("vcpu",))
    result = scheduler.select_destinations(RequestSpec.simple({"VCPU": 2}), 1, 5)
    instance = result.instances[0]
    assert instance.chosen.provider_uuid == big_in_c1
    assert {s.provider_uuid for s in instance.alternates} == set(c1)
    assert all(s.cell == "c1" and not s.claimed and s.alternate_id for s in instance.alternates)
    for alternate in instance.alternates:
        assert alternate.allocation_request.allocations == {alternate.provider_uuid: {"VCPU": 2}}
        assert _usage(store, alternate.provider_uuid) == 0
    assert all(_usage(store, h) == 0 for h in c2)


def test_num_alternates_is_the_callers(store, fleet):
    for _ in range(6):
        fleet.host()
    scheduler = make_scheduler(store)
    assert len(scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}), 1, 0).instances[0].selections) == 1
    assert len(scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}), 1, 3).instances[0].selections) == 4


def test_later_instances_see_the_earlier_claims(store, fleet):
    hosts = [fleet.host(vcpu=8) for _ in range(3)]
    scheduler = make_scheduler(store)
    result = scheduler.select_destinations(RequestSpec.simple({"VCPU": 6}), 3, 0)
    assert sorted(i.chosen.provider_uuid for i in result.instances) == sorted(hosts)
    assert all(_usage(store, h) == 6 for h in hosts)


def test_a_request_that_does_not_fit_whole_leaves_no_claim(store, fleet):
    hosts = [fleet.host(vcpu=8) for _ in range(2)]
    scheduler = make_scheduler(store)
    with pytest.raises(NoValidHost) as raised:
        scheduler.select_destinations(RequestSpec.simple({"VCPU": 6}), 3, 0)
    assert raised.value.explanation.unplaced == 1
    assert all(_usage(store, h) == 0 for h in hosts)


def test_a_refused_batch_falls_back_to_claims_one_by_one(store, fleet):
    hosts = [fleet.host(vcpu=8) for _ in range(4)]
    racing = RacingStore(store, set(hosts))
    scheduler = make_scheduler(racing)
    result = scheduler.select_destinations(RequestSpec.simple({"VCPU": 4}), 2, 0)
    # The batch named one or two hosts; they were filled before it landed,
    # so it was refused whole, and each instance was then claimed alone.
    assert result.stats.batch_fallbacks == 1 and racing.stolen
    placed = [i.chosen.provider_uuid for i in result.instances]
    assert not set(placed) & set(racing.stolen)
    assert sum(_usage(store, h) for h in hosts) == 8 * len(racing.stolen) + 8


def test_a_failed_walk_removes_the_claims_it_made(store, fleet):
    hosts = [fleet.host(vcpu=8) for _ in range(3)]
    racing = RacingStore(store, set(hosts))
    scheduler = make_scheduler(racing)
    with pytest.raises(NoValidHost):
        # The batch names two hosts, which are filled: refused. One by one,
        # the first instance claims the third host, the second finds none:
        # the first claim is removed.
        scheduler.select_destinations(RequestSpec.simple({"VCPU": 5}), 2, 0)
    assert len(racing.stolen) == 2
    free_host = (set(hosts) - set(racing.stolen)).pop()
    assert _usage(store, free_host) == 0


def test_an_existing_consumer_is_never_replaced(store, fleet):
    host = fleet.host(vcpu=8)
    instance = new_uuid()
    store.write_allocations([claim(instance, {host: {"VCPU": 1}})])
    others = [fleet.host(vcpu=8) for _ in range(3)]
    scheduler = make_scheduler(store)
    with pytest.raises(ConsumerExists):
        scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}, instance_uuids=(instance,)), 1, 0)
    # In a multi-instance request the batch is refused, then the walk stops
    # at that consumer and removes the claims it made for the others.
    with pytest.raises(ConsumerExists):
        scheduler.select_destinations(
            RequestSpec.simple({"VCPU": 1}, instance_uuids=(new_uuid(), instance)), 2, 0,
        )
    assert _usage(store, host) == 1
    assert all(_usage(store, other) == 0 for other in others)


def test_hard_affinity_puts_every_instance_on_one_host(store, fleet):
    for _ in range(4):
        fleet.host(vcpu=16)
    from berth.scheduler import GroupPolicy, ServerGroup

    hints = SchedulingHints(server_group=ServerGroup("g", GroupPolicy.AFFINITY))
    scheduler = make_scheduler(store, host_subset_size=4)
    result = scheduler.select_destinations(RequestSpec.simple({"VCPU": 2}, hints=hints), 4, 0)
    assert len({i.chosen.provider_uuid for i in result.instances}) == 1


def test_hard_anti_affinity_uses_the_members_hosts_from_the_store(store, fleet):
    from berth.scheduler import GroupPolicy, ServerGroup

    hosts = [fleet.host(vcpu=16) for _ in range(3)]
    member = new_uuid()
    store.write_allocations([claim(member, {hosts[0]: {"VCPU": 1}})])
    hints = SchedulingHints(server_group=ServerGroup("g", GroupPolicy.ANTI_AFFINITY, (member,)))
    scheduler = make_scheduler(store)
    result = scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}, hints=hints), 2, 0)
    assert sorted(i.chosen.provider_uuid for i in result.instances) == sorted(hosts[1:])
    members = (member, *(i.consumer_uuid for i in result.instances))
    hints = SchedulingHints(server_group=ServerGroup("g", GroupPolicy.ANTI_AFFINITY, members))
    with pytest.raises(NoValidHost) as raised:
        scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}, hints=hints), 1, 0)
    removed = {f.name: f.removed for f in raised.value.explanation.filters}
    assert removed["anti_affinity"] == 3


def test_zone_and_cell_hints_on_the_store(store, fleet):
    wanted = fleet.host(cell="c2", zone="az-b")
    fleet.host(cell="c2", zone="az-a")
    fleet.host(cell="c1", zone="az-b")
    scheduler = make_scheduler(store)
    spec = RequestSpec.simple({"VCPU": 1}, hints=SchedulingHints(cell="c2", availability_zone="az-b"))
    assert scheduler.select_destinations(spec, 1, 0).instances[0].chosen.provider_uuid == wanted


def test_a_cell_set_after_the_index_was_filled_is_seen(store, fleet):
    host = fleet.host(cell="c1")
    scheduler = make_scheduler(store)
    spec = RequestSpec.simple({"VCPU": 1}, hints=SchedulingHints(cell="c9"))
    with pytest.raises(NoValidHost):
        scheduler.select_destinations(spec, 1, 0)
    store.set_provider_cell(host, "c9")
    assert scheduler.select_destinations(spec, 1, 0).instances[0].chosen.cell == "c9"


def test_a_small_sample_is_widened_when_filters_leave_too_few(store, fleet):
    hosts = [fleet.host(cell="c1") for _ in range(12)]
    target = fleet.host(cell="c2")
    scheduler = make_scheduler(store, candidate_sample=2)
    spec = RequestSpec.simple({"VCPU": 1}, hints=SchedulingHints(cell="c2"))
    result = scheduler.select_destinations(spec, 1, 0)
    assert result.instances[0].chosen.provider_uuid == target
    assert result.stats.requeries in (0, 1)
    assert len(hosts) == 12


def test_invalid_counts_are_refused(store):
    scheduler = make_scheduler(store)
    with pytest.raises(ValueError):
        scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}), 0, 0)
    with pytest.raises(ValueError):
        scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}), 1, -1)
    twice = new_uuid()
    with pytest.raises(ValueError):
        scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}, instance_uuids=(twice, twice)), 2, 0)


def test_unknown_consumer_delete_in_rollback_is_harmless(store):
    with pytest.raises(errors.NotFound):
        store.delete_consumer_allocations(new_uuid())


def test_a_stale_index_costs_a_refused_claim_never_an_overcommit(store, fleet):
    hosts = [fleet.host(vcpu=4) for _ in range(2)]
    scheduler = make_scheduler(store, index_max_staleness_ms=3_600_000)
    scheduler.finder.view(RequestSpec.simple({"VCPU": 1}).request)  # fills the index
    # Filled behind the scheduler's back: its index does not know.
    store.write_allocations([claim(new_uuid(), {hosts[0]: {"VCPU": 4}})])
    store.write_allocations([claim(new_uuid(), {hosts[1]: {"VCPU": 3}})])
    placed = conflicts = 0
    for _ in range(3):
        try:
            result = scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}), 1, 0)
            placed += 1
            conflicts += result.stats.claim_conflicts
        except NoValidHost as failure:
            conflicts += failure.stats.claim_conflicts
    assert placed == 1 and conflicts >= 1
    assert _usage(store, hosts[0]) == 4 and _usage(store, hosts[1]) == 4


def test_without_staleness_every_search_sees_the_last_write(store, fleet):
    host = fleet.host(vcpu=4)
    scheduler = make_scheduler(store)
    scheduler.finder.view(RequestSpec.simple({"VCPU": 1}).request)
    store.write_allocations([claim(new_uuid(), {host: {"VCPU": 4}})])
    with pytest.raises(NoValidHost) as raised:
        scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}), 1, 0)
    assert raised.value.stats.claim_conflicts == 0
    assert raised.value.explanation.candidates == 0


def test_a_host_deleted_after_the_search_is_discarded(store, fleet):
    doomed = fleet.host(vcpu=64)
    survivor = fleet.host(vcpu=8)

    class DeletingStore(RacingStore):
        def write_allocations(self, claims):
            if not self.raced and doomed in {p for c in claims for p in c.allocations}:
                self.raced = True
                self._store.delete_provider(doomed)
            return self._store.write_allocations(claims)

    scheduler = make_scheduler(DeletingStore(store, set()))
    result = scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}), 1, 0)
    assert result.instances[0].chosen.provider_uuid == survivor
    assert result.stats.claim_conflicts == 1


@pytest.mark.parametrize("instances", [1, 3])
def test_a_stale_index_knows_the_room_its_own_claims_took(store, fleet, instances):
    """With the change feed skipped, the scheduler's own claims are in its
    index: the room they took is not offered again (no refused claim)."""
    host = fleet.host(vcpu=instances)
    scheduler = make_scheduler(store, index_max_staleness_ms=3_600_000)
    scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}), instances, 0)
    with pytest.raises(NoValidHost) as raised:
        scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}), 1, 0)
    assert raised.value.stats.claim_conflicts == 0
    assert raised.value.explanation.candidates == 0
    assert _usage(store, host) == instances


def test_own_claims_are_not_counted_twice_after_a_refresh(store, fleet):
    host = fleet.host(vcpu=4)
    scheduler = make_scheduler(store, index_max_staleness_ms=3_600_000)
    view = scheduler.finder.view(RequestSpec.simple({"VCPU": 1}).request)
    store.write_allocations([claim(new_uuid(), {host: {"VCPU": 1}})])
    scheduler.finder.invalidate()
    scheduler.finder.view(RequestSpec.simple({"VCPU": 1}).request)  # reads the claim from the feed
    scheduler.finder.claimed(view, [AllocationRequest({host: {"VCPU": 1}}, {"": (host,)})])
    column = scheduler.finder.index.resources["VCPU"]
    assert int(column.used[scheduler.finder.index.slot_of[host]]) == 1
