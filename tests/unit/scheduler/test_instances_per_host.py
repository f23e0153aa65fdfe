"""max_instances_per_host counts the instances already on each host (read
from the store for the hosts of a search), not only the request's own."""

from __future__ import annotations

import pytest

from berth.scheduler import NoValidHost, RequestSpec, SchedulingHints
from berth.scheduler.context import RequestContext, with_resident_instances
from tests.support.builders import claim, new_uuid
from tests.unit.scheduler.conftest import make_scheduler


def _instances(store, host: str, count: int, consumer_type: str = "INSTANCE") -> None:
    for _ in range(count):
        store.write_allocations([claim(new_uuid(), {host: {"VCPU": 1}}, consumer_type=consumer_type)])


def _capped(cap: int) -> RequestSpec:
    return RequestSpec.simple({"VCPU": 1}, hints=SchedulingHints(max_instances_per_host=cap))


def test_a_host_at_the_cap_with_earlier_instances_is_passed_over(store, fleet):
    full, free = fleet.host(vcpu=16), fleet.host(vcpu=4)
    _instances(store, full, 2)
    # Without a cap the scheduler spreads to the host with the most room.
    assert make_scheduler(store).select_destinations(_capped(0)).instances[0].chosen.provider_uuid == full
    result = make_scheduler(store).select_destinations(_capped(2), num_instances=2)
    assert {i.chosen.provider_uuid for i in result.instances} == {free}


def test_earlier_and_new_instances_count_together(store, fleet):
    hosts = [fleet.host(vcpu=16) for _ in range(2)]
    _instances(store, hosts[0], 1)
    result = make_scheduler(store).select_destinations(_capped(2), num_instances=3)
    placed = [i.chosen.provider_uuid for i in result.instances]
    assert placed.count(hosts[0]) == 1 and placed.count(hosts[1]) == 2


def test_only_instances_count(store, fleet):
    host = fleet.host(vcpu=16)
    _instances(store, host, 2, consumer_type="MIGRATION")
    chosen = make_scheduler(store).select_destinations(_capped(1)).instances[0].chosen
    assert chosen.provider_uuid == host


def test_no_host_under_the_cap_explains_itself(store, fleet):
    host = fleet.host(vcpu=16)
    _instances(store, host, 1)
    with pytest.raises(NoValidHost) as failure:
        make_scheduler(store).select_destinations(_capped(1))
    (outcome,) = [f for f in failure.value.explanation.filters if f.name == "max_instances_per_host"]
    assert outcome.removed == 1
    assert outcome.reasons == (("already holds 1 instance(s), at most 1 per host", 1),)


class _CountingStore:
    """A store that records count_consumers calls."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self.calls: list[tuple[tuple[str, ...], str]] = []

    def count_consumers(self, root_provider_uuids, consumer_type):
        self.calls.append((tuple(root_provider_uuids), consumer_type))
        return {uuid: self.counts.get(uuid, 0) for uuid in root_provider_uuids}


def test_the_store_is_read_once_and_only_when_the_hint_is_set():
    spy = _CountingStore({"h1": 2})
    plain = RequestContext(spec=RequestSpec.simple({"VCPU": 1}))
    assert with_resident_instances(plain, spy, ["h1", "h2"]) is plain
    capped = with_resident_instances(RequestContext(spec=_capped(3)), spy, ["h1", "h2"])
    assert spy.calls == [(("h1", "h2"), "INSTANCE")]
    assert capped.instances_on("h1") == 2 and capped.instances_on("h2") == 0
