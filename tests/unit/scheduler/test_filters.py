"""Every host filter, on hosts built in memory."""

from __future__ import annotations

import dataclasses

import pytest

from berth.scheduler.filters import (
    FILTERS,
    AffinityFilter,
    AntiAffinityFilter,
    AvailabilityZoneFilter,
    CellFilter,
    DifferentHostFilter,
    DisabledFilter,
    MaxInstancesPerHostFilter,
    ResourcesFilter,
    SameHostFilter,
)
from berth.scheduler.hosts import Ledger
from berth.scheduler.spec import GroupPolicy, SchedulingHints, ServerGroup, zone_aggregate
from tests.unit.scheduler.hoststates import context, host_state


def test_disabled_host_is_refused_with_its_trait_named():
    disabled = host_state(traits=frozenset({"COMPUTE_STATUS_DISABLED"}))
    enabled = host_state(traits=frozenset({"HW_CPU_X86_AVX2"}))
    status, other = DisabledFilter().check([disabled, enabled], context())
    assert not status.fits and "COMPUTE_STATUS_DISABLED" in status.reason
    assert other.fits


def test_a_filter_answers_for_each_host_in_the_order_given():
    hints = SchedulingHints(cell="cell1")
    hosts = [host_state(cell=cell) for cell in ("cell2", "cell1", None, "cell1", "cell3")]
    assert [s.fits for s in CellFilter().check(hosts, context(hints))] == [False, True, False, True, False]
    assert [s.fits for s in CellFilter().check(hosts, context())] == [True] * 5
    assert CellFilter().check([], context(hints)) == []


def test_resources_filter_judges_each_host_against_the_shared_ledger():
    ledger = Ledger()
    roomy, tight = host_state(vcpu=8, want_vcpu=2, ledger=ledger), host_state(vcpu=3, want_vcpu=2, ledger=ledger)
    assert [s.fits for s in ResourcesFilter().check([roomy, tight], context())] == [True, True]
    ledger.consume(roomy.allocation_requests[0])
    ledger.consume(tight.allocation_requests[0])
    first, second = ResourcesFilter().check([roomy, tight], context())
    assert first.fits and not second.fits and "VCPU" in second.reason


def test_resources_filter_sees_what_earlier_instances_took():
    host = host_state(vcpu=8, want_vcpu=6)
    assert ResourcesFilter().check([host], context())[0].fits
    host.ledger.consume(host.allocation_requests[0])
    status = ResourcesFilter().check([host], context())[0]
    assert not status.fits and "VCPU" in status.reason


def test_zone_filter_reads_the_zone_aggregate():
    hints = SchedulingHints(availability_zone="az1")
    inside = host_state(aggregates=frozenset({zone_aggregate("az1")}))
    outside = host_state(aggregates=frozenset({zone_aggregate("az2")}))
    assert AvailabilityZoneFilter().check([inside], context(hints))[0].fits
    status = AvailabilityZoneFilter().check([outside], context(hints))[0]
    assert not status.fits and "az1" in status.reason
    assert AvailabilityZoneFilter().check([outside], context())[0].fits


def test_cell_filter():
    hints = SchedulingHints(cell="cell1")
    assert CellFilter().check([host_state(cell="cell1")], context(hints))[0].fits
    assert not CellFilter().check([host_state(cell="cell2")], context(hints))[0].fits
    assert not CellFilter().check([host_state(cell=None)], context(hints))[0].fits
    assert CellFilter().check([host_state(cell="cell2")], context())[0].fits


def _group(policy: GroupPolicy, per_host: int = 1) -> SchedulingHints:
    return SchedulingHints(server_group=ServerGroup("g", policy, ("m1",), per_host))


def test_affinity_keeps_only_the_groups_host_once_it_has_one():
    host, other = host_state(), host_state()
    hints = _group(GroupPolicy.AFFINITY)
    assert AffinityFilter().check([other], context(hints))[0].fits  # no host yet
    ctx = context(hints, group_hosts={host.uuid: 1})
    assert AffinityFilter().check([host], ctx)[0].fits
    assert not AffinityFilter().check([other], ctx)[0].fits
    assert AffinityFilter.request_scoped


def test_anti_affinity_honours_max_server_per_host():
    host = host_state()
    one = context(_group(GroupPolicy.ANTI_AFFINITY), group_hosts={host.uuid: 1})
    assert not AntiAffinityFilter().check([host], one)[0].fits
    two = context(_group(GroupPolicy.ANTI_AFFINITY, per_host=2), group_hosts={host.uuid: 1})
    assert AntiAffinityFilter().check([host], two)[0].fits
    soft = context(_group(GroupPolicy.SOFT_ANTI_AFFINITY), group_hosts={host.uuid: 3})
    assert AntiAffinityFilter().check([host], soft)[0].fits


def test_same_and_different_host():
    host, other = host_state(), host_state()
    same = context(SchedulingHints(same_host=("i1",)), same_hosts=frozenset({host.uuid}))
    assert SameHostFilter().check([host], same)[0].fits
    assert not SameHostFilter().check([other], same)[0].fits
    assert SameHostFilter().check([other], context())[0].fits
    different = context(SchedulingHints(different_host=("i1",)), different_hosts=frozenset({host.uuid}))
    assert not DifferentHostFilter().check([host], different)[0].fits
    assert DifferentHostFilter().check([other], different)[0].fits


def test_max_instances_per_host_counts_this_requests_instances():
    host = host_state()
    ctx = context(SchedulingHints(max_instances_per_host=2))
    assert MaxInstancesPerHostFilter().check([host], ctx)[0].fits
    ctx = ctx.placed_on(host.uuid).placed_on(host.uuid)
    assert not MaxInstancesPerHostFilter().check([host], ctx)[0].fits
    assert MaxInstancesPerHostFilter().check([host], context().placed_on(host.uuid))[0].fits


def test_max_instances_per_host_counts_the_instances_already_there():
    host, other = host_state(), host_state()
    ctx = context(SchedulingHints(max_instances_per_host=3), resident={host.uuid: 2, other.uuid: 3})
    assert MaxInstancesPerHostFilter().check([host], ctx)[0].fits
    refused = MaxInstancesPerHostFilter().check([other], ctx)[0]
    assert not refused.fits and refused.reason == "already holds 3 instance(s), at most 3 per host"
    # One of this request's on top of the two already there reaches the cap.
    status = MaxInstancesPerHostFilter().check([host], ctx.placed_on(host.uuid))[0]
    assert not status.fits and "already holds 3" in status.reason


@pytest.mark.parametrize("name", FILTERS.names)
def test_every_registered_filter_passes_a_plain_host(name):
    assert FILTERS.get(name)().check([host_state()], context())[0].fits


def test_placing_an_instance_keeps_everything_else_the_context_holds():
    from berth.scheduler.context import RequestContext
    from berth.scheduler.spec import RequestSpec

    group = ServerGroup("group-1", GroupPolicy.ANTI_AFFINITY, members=("member-1",))
    ctx = RequestContext(
        spec=RequestSpec.simple({"VCPU": 1}, hints=SchedulingHints(server_group=group)),
        group_hosts={"host-a": 1}, same_hosts=frozenset({"host-b"}), different_hosts=frozenset({"host-c"}),
        placed={"host-a": 2}, resident={"host-d": 3}, build_failures={"host-e": 4},
    )
    placed = ctx.placed_on("host-a")
    assert placed.placed == {"host-a": 3} and placed.group_hosts == {"host-a": 2}
    assert ctx.placed == {"host-a": 2} and ctx.group_hosts == {"host-a": 1}
    unchanged = {"spec", "same_hosts", "different_hosts", "resident", "build_failures"}
    # Every other field is carried over; a new field must be named here.
    assert {f.name for f in dataclasses.fields(RequestContext)} == unchanged | {"placed", "group_hosts"}
    for name in unchanged:
        assert getattr(placed, name) == getattr(ctx, name)


@pytest.mark.parametrize("policy", [GroupPolicy.AFFINITY, GroupPolicy.ANTI_AFFINITY])
@pytest.mark.parametrize("name", FILTERS.names)
def test_a_filter_that_declares_placements_cannot_change_its_answer_keeps_it(name, policy):
    """``changes_with_placements = False`` lets the pipeline skip the filter
    when it judges a placed host again: every hint in use, the answer for
    every host must then be the same before and after instances of the
    request land (on the host itself and elsewhere)."""
    host_filter = FILTERS.create([name])[0]
    assert isinstance(host_filter.changes_with_placements, bool)
    if host_filter.changes_with_placements:
        return
    ledger = Ledger()
    hosts = [
        host_state(cell=cell, ledger=ledger, want_vcpu=4, vcpu=4, aggregates=aggregates, traits=traits)
        for cell, aggregates, traits in [
            ("cell1", frozenset({zone_aggregate("az1")}), frozenset()),
            ("cell2", frozenset(), frozenset({"COMPUTE_STATUS_DISABLED"})),
            ("cell1", frozenset(), frozenset()),
        ]
    ]
    hints = SchedulingHints(
        cell="cell1", availability_zone="az1",
        server_group=ServerGroup("group", policy),
        same_host=("instance-a",), different_host=("instance-b",), max_instances_per_host=1,
    )
    ctx = context(
        hints, same_hosts=frozenset({hosts[0].uuid, hosts[1].uuid}), different_hosts=frozenset({hosts[2].uuid}),
    )
    before = host_filter.check(hosts, ctx)
    for host in hosts:
        ledger.consume(host.allocation_requests[0])
        ctx = ctx.placed_on(host.uuid)
        assert host_filter.check(hosts, ctx) == before


def test_a_placed_host_that_passed_is_asked_only_the_filters_a_placement_can_change():
    import random

    from berth.config import SchedulerSettings
    from berth.scheduler.pipeline import Pipeline

    asked: list[str] = []
    pipeline = Pipeline(SchedulerSettings(filters=("disabled", "cell", "resources"), weighers=("vcpu",)))
    for host_filter in pipeline.filters:
        original = host_filter.check
        host_filter.check = lambda hosts, ctx, _f=original, _n=host_filter.name: asked.append(_n) or _f(hosts, ctx)
    ledger = Ledger()
    hosts = [host_state(ledger=ledger, vcpu=2, want_vcpu=1) for _ in range(2)]
    ranking = pipeline.rank(hosts, context())
    assert asked == ["disabled", "cell", "resources"]
    first = ranking.order(random.Random(0))[0]
    ranking.place(first, hosts[first].allocation_requests[0])
    ranking.place(first, hosts[first].allocation_requests[0])  # the host's VCPU is now used up
    asked.clear()
    assert ranking.order(random.Random(0)) == [1 - first]
    assert asked == ["resources"]
    assert ranking.refused_by.tolist()[first] == 2
