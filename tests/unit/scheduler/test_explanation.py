"""No valid host explains itself; a success carries the chosen weights."""

from __future__ import annotations

import pytest

from berth.scheduler import NoValidHost, RequestSpec, SchedulingHints
from tests.unit.scheduler.conftest import make_scheduler


def _failure(scheduler, spec, count=1) -> NoValidHost:
    with pytest.raises(NoValidHost) as raised:
        scheduler.select_destinations(spec, count, 0)
    return raised.value


def test_a_short_resource_is_named_with_how_many_hosts_have_it(store, fleet):
    for vcpu in (4, 8, 16):
        fleet.host(vcpu=vcpu, ram=4096)
    failure = _failure(make_scheduler(store), RequestSpec.simple({"VCPU": 12, "MEMORY_MB": 8192}))
    counts = {q.requirement: q.hosts for q in failure.explanation.query}
    assert counts == {"VCPU:12": 1, "MEMORY_MB:8192": 0}
    assert failure.explanation.candidates == 0 and failure.explanation.hosts == 3
    assert "MEMORY_MB:8192 (no host)" in str(failure)


def test_the_closest_hosts_miss_the_fewest_requirements(store, fleet):
    near = fleet.host(vcpu=16, ram=4096)
    fleet.host(vcpu=4, ram=4096)
    failure = _failure(make_scheduler(store), RequestSpec.simple({"VCPU": 12, "MEMORY_MB": 8192}))
    closest = failure.explanation.closest
    assert closest[0].provider_uuid == near
    assert closest[0].reasons == ("MEMORY_MB:8192",)
    assert len(closest[1].reasons) == 2


def test_traits_are_explained_too(store, fleet):
    fleet.host(traits=frozenset({"HW_CPU_X86_AVX2"}))
    fleet.host()
    failure = _failure(
        make_scheduler(store),
        RequestSpec.simple({"VCPU": 1}, required=("HW_CPU_X86_AVX512F",)),
    )
    counts = {q.requirement: q.hosts for q in failure.explanation.query}
    assert counts["trait HW_CPU_X86_AVX512F"] == 0 and counts["VCPU:1"] == 2


def test_each_filter_says_how_many_it_removed_and_why(store, fleet):
    fleet.host(cell="c1")
    fleet.host(cell="c2", traits=frozenset({"COMPUTE_STATUS_DISABLED"}))
    fleet.host(cell="c2", traits=frozenset({"COMPUTE_STATUS_DISABLED"}), zone="az1")
    fleet.host(cell="c2", zone="az1", vcpu=16, used_vcpu=16)
    spec = RequestSpec.simple({"VCPU": 1}, hints=SchedulingHints(cell="c2"))
    explanation = _failure(make_scheduler(store), spec).explanation
    outcomes = {f.name: f for f in explanation.filters}
    # The cell is answered by the search: the c1 host is never a candidate,
    # and the full c2 host has no room for the query.
    assert explanation.candidates == 2
    # The first filter to refuse a host removes it (filters run in order).
    assert outcomes["disabled"].considered == 2 and outcomes["disabled"].removed == 2
    assert outcomes["disabled"].reasons == (("host is disabled (COMPUTE_STATUS_DISABLED)", 2),)
    assert outcomes["cell"].removed == 0 and outcomes["cell"].considered == 0


def test_cell_and_zone_hints_are_counted_like_the_query(store, fleet):
    other_cell = fleet.host(cell="c1")
    fleet.host(cell="c2")
    wrong_zone = fleet.host(cell="c2", zone="az1")
    spec = RequestSpec.simple({"VCPU": 1}, hints=SchedulingHints(cell="c2", availability_zone="az2"))
    explanation = _failure(make_scheduler(store), spec).explanation
    assert explanation.candidates == 0
    counts = {q.requirement: q.hosts for q in explanation.query}
    assert counts == {"VCPU:1": 3, "in cell c2": 2, "in availability zone az2": 0}
    reasons = {r.provider_uuid: r.reasons for r in explanation.closest}
    assert reasons[wrong_zone] == ("in availability zone az2",)
    assert reasons[other_cell] == ("in cell c2", "in availability zone az2")


def test_an_unplaceable_later_instance_is_explained(store, fleet):
    fleet.host(vcpu=8)
    explanation = _failure(make_scheduler(store), RequestSpec.simple({"VCPU": 6}), count=2).explanation
    assert explanation.unplaced == 1
    outcomes = {f.name: f for f in explanation.filters}
    assert outcomes["resources"].removed == 1
    assert "VCPU" in outcomes["resources"].reasons[0][0]


def test_a_success_carries_the_chosen_hosts_weights(store, fleet):
    emptier = fleet.host(vcpu=16)
    fleet.host(vcpu=16, used_vcpu=8)
    scheduler = make_scheduler(store, weighers=("vcpu", "ram"), vcpu_weight_multiplier=2.0)
    result = scheduler.select_destinations(RequestSpec.simple({"VCPU": 1}), 1, 0)
    chosen = result.explanation.chosen[0]
    assert chosen.provider_uuid == emptier
    details = {d.weigher: d for d in chosen.details}
    assert details["vcpu"].raw == 16 and details["vcpu"].normalised == 1.0
    assert chosen.total == pytest.approx(2.0)
    assert {f.name: f.removed for f in result.explanation.filters}["cell"] == 0
