"""Hosts that are trees (NUMA children) and sharing providers: the host is
the root, its free capacity is its tree's, and a claim spans providers."""

from __future__ import annotations

import random

import pytest

from berth.config import SchedulerSettings
from berth.placement.candidates.result import AllocationRequest
from berth.placement.model import Inventory, ProviderRegistration
from berth.scheduler import NoValidHost, RequestSpec
from berth.scheduler.context import RequestContext
from berth.scheduler.hosts import HostState, Ledger
from berth.scheduler.pipeline import Pipeline
from tests.support.builders import new_uuid
from tests.unit.scheduler.conftest import make_scheduler

SHARES = "MISC_SHARES_VIA_AGGREGATE"


def _tree(store, vcpu_per_numa: int, cell: str, aggregate: str) -> tuple[str, list[str]]:
    root = new_uuid()
    numas = [new_uuid(), new_uuid()]
    store.register_providers([
        ProviderRegistration(root, f"host-{root[:8]}", aggregates=frozenset({aggregate}), cell=cell),
        *(ProviderRegistration(
            numa, f"numa-{numa[:8]}", parent_uuid=root,
            inventories={"VCPU": Inventory("VCPU", vcpu_per_numa), "MEMORY_MB": Inventory("MEMORY_MB", 4096)},
        ) for numa in numas),
    ])
    return root, numas


def test_a_nested_host_is_chosen_by_its_root_and_claimed_on_its_children(store):
    aggregate = new_uuid()
    small, _ = _tree(store, 2, "c1", aggregate)
    big, big_numas = _tree(store, 8, "c1", aggregate)
    pool = new_uuid()
    store.register_providers([ProviderRegistration(
        pool, "pool", inventories={"DISK_GB": Inventory("DISK_GB", 1000)},
        traits=frozenset({SHARES}), aggregates=frozenset({aggregate}),
    )])
    scheduler = make_scheduler(store, weighers=("vcpu",))
    result = scheduler.select_destinations(RequestSpec.simple({"VCPU": 2, "DISK_GB": 10}), 1, 1)
    chosen = result.instances[0].chosen
    assert chosen.provider_uuid == big and chosen.cell == "c1"
    providers = set(chosen.allocation_request.allocations)
    assert pool in providers and providers - {pool} <= set(big_numas)
    assert store.get_provider_usages(pool).usages == {"DISK_GB": 10}
    # The tree's free VCPU (8 + 8) is what the vcpu weigher saw.
    details = {d.weigher: d for d in result.explanation.chosen[0].details}
    assert details["vcpu"].raw == 16
    assert result.instances[0].alternates[0].provider_uuid == small


def test_later_instances_see_a_shared_pool_shrink(store):
    aggregate = new_uuid()
    for _ in range(3):
        _tree(store, 8, "c1", aggregate)
    pool = new_uuid()
    store.register_providers([ProviderRegistration(
        pool, "pool", inventories={"DISK_GB": Inventory("DISK_GB", 25)},
        traits=frozenset({SHARES}), aggregates=frozenset({aggregate}),
    )])
    scheduler = make_scheduler(store)
    result = scheduler.select_destinations(RequestSpec.simple({"VCPU": 1, "DISK_GB": 10}), 2, 0)
    assert len(result.instances) == 2
    assert store.get_provider_usages(pool).usages == {"DISK_GB": 20}
    with pytest.raises(NoValidHost):  # the pool has 5 left
        scheduler.select_destinations(RequestSpec.simple({"VCPU": 1, "DISK_GB": 10}), 1, 0)


def _sharing_hosts(pool_as_host: bool):
    """Two hosts whose requests take DISK_GB from one pool of 10; with
    ``pool_as_host`` the first host is the pool itself (a request served
    by the pool alone is anchored at it)."""
    ledger = Ledger()
    pool, other = new_uuid(), new_uuid()
    ledger.add_provider(pool, {"DISK_GB": 10}, {})
    ledger.add_provider(other, {"VCPU": 8}, {})
    ledger.sharing = {pool}
    first_uuid = pool if pool_as_host else new_uuid()
    if not pool_as_host:
        ledger.add_provider(first_uuid, {"VCPU": 8}, {})
    first_request = AllocationRequest(
        {pool: {"DISK_GB": 10}} if pool_as_host else {first_uuid: {"VCPU": 1}, pool: {"DISK_GB": 10}}, {},
    )
    first = HostState(first_uuid, None, frozenset(), frozenset(), (first_uuid,), [first_request], ledger)
    second = HostState(
        other, None, frozenset(), frozenset(), (other,),
        [AllocationRequest({other: {"VCPU": 1}, pool: {"DISK_GB": 10}}, {})], ledger,
    )
    return first, second


@pytest.mark.parametrize("pool_as_host", [False, True])
def test_a_placement_judges_again_every_host_that_shares_its_pool(pool_as_host):
    first, second = _sharing_hosts(pool_as_host)
    pipeline = Pipeline(SchedulerSettings(filters=("resources",), weighers=("disk",)))
    ranking = pipeline.rank([first, second], RequestContext(spec=RequestSpec.simple({"DISK_GB": 10})))
    assert sorted(ranking.order(random.Random(0))) == [0, 1]
    ranking.place(0, first.allocation_requests[0])
    assert ranking.order(random.Random(0)) == []  # the pool is empty for both
    assert ranking.refused_by.tolist() == [0, 0]
