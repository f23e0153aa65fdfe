"""Minimal cases where berth's engine and upstream Placement 16.0.0 differ.

Each case was found by test_candidates_property.py, minimised by hand, and
checked against upstream Placement itself (upstream_oracle.py); each test
states upstream's answer and the rule behind it.
"""

from __future__ import annotations

import pytest

from berth.placement.candidates.finder import CandidateFinder
from berth.placement.candidates.request import CandidateRequest, GroupPolicy, RequestGroup
from berth.placement.model import Inventory
from berth.placement.query import AggregateRequirement, TraitRequirement

from .reference import reference_candidates
from .test_reference import (
    AGG_A,
    AGG_C,
    granular,
    granular_fixture,
    required,
    shared_storage_fixture,
    unsuffixed,
)
from .worlds import ProviderSpec, WorldSpec, write_world

CN = "00000000-0000-0000-0000-000000000001"
CHILD = "00000000-0000-0000-0000-000000000002"


def provider(uuid, name, parent=None, traits=(), aggregates=(), **totals) -> ProviderSpec:
    return ProviderSpec(
        uuid=uuid,
        name=name,
        parent=parent,
        inventories={rc: Inventory(rc, total=total) for rc, total in totals.items()},
        traits=frozenset(traits),
        aggregates=frozenset(aggregates),
        used={},
    )


def answer(store, world: WorldSpec, request: CandidateRequest):
    write_world(store, world)
    expected = reference_candidates(store.read_provider_changes(None).providers, request)
    got = CandidateFinder(store).find(request)
    return expected, got


# A compute node with memory and a child with CUSTOM_T2.
NODE_WITH_CHILD = WorldSpec(
    (
        provider(CN, "cn", MEMORY_MB=4),
        provider(CHILD, "child", parent=CN, traits={"CUSTOM_T2"}),
    )
)


@pytest.mark.parametrize(
    "resourceless",
    [
        pytest.param(RequestGroup(suffix="2", traits=TraitRequirement(forbidden=frozenset({"CUSTOM_T1"}))), id="only-forbidden-trait"),
        pytest.param(RequestGroup(suffix="2", in_tree=CN), id="only-in_tree"),
    ],
)
def test_resourceless_group_without_a_positive_filter_matches_nothing(store, resourceless):
    """GET /allocation_candidates?resources1=MEMORY_MB:1&required2=!CUSTOM_T1
    &same_subtree=1,2&group_policy=none (or in_tree2=<cn> instead of
    required2) at 1.39: upstream answers no candidates at all.

    Upstream (placement/objects/research_context.py,
    get_provider_ids_matching): a group without resources keeps only the
    providers in ``filtered_rps``, the result of its *positive* filters
    (required traits, member_of) from get_provider_ids_for_traits_and_aggs;
    with none of those, ``filtered_rps`` is the empty set, the group has no
    candidate, and _get_by_requests answers nothing. A resourceless group's
    in_tree is never applied (only RC.get_providers_with_resource uses it).
    Checked against Placement 16.0.0 itself: [] for both requests, while
    required2=CUSTOM_T2 answers one candidate.
    """
    request = CandidateRequest(
        groups=(RequestGroup(suffix="1", resources={"MEMORY_MB": 1}), resourceless),
        group_policy=GroupPolicy.NONE,
        same_subtrees=(frozenset({"1", "2"}),),
    )
    expected, got = answer(store, NODE_WITH_CHILD, request)
    assert expected.keys == frozenset()
    assert [a.key for a in got.allocation_requests] == []
    assert got.provider_summaries == ()


# -- the engine on upstream's gabbi fixtures -----------------------------------


def _fixture_world(fixture) -> WorldSpec:
    """A test_reference Fixture as a world the store can be given."""
    return WorldSpec(
        tuple(
            ProviderSpec(
                uuid=p.uuid,
                name=p.name,
                parent=p.parent_provider_uuid,
                inventories=p.inventories,
                traits=p.traits,
                aggregates=p.aggregates,
                used={},
            )
            for p in fixture.snapshots.values()
        )
    )


def _shared_requests(f):
    """Requests of allocation-candidates.yaml on SharedStorageFixture, and
    the all-sharing unsuffixed group beside a granular one."""
    return [
        CandidateRequest((unsuffixed(VCPU=1, MEMORY_MB=1024, DISK_GB=100),), nested_aware=False),
        CandidateRequest((unsuffixed(VCPU=1, MEMORY_MB=1024, DISK_GB=100, traits=required("HW_CPU_X86_SSE")),)),
        CandidateRequest((unsuffixed(VCPU=1),), nested_aware=False),
        CandidateRequest((unsuffixed(VCPU=1),)),
        CandidateRequest((unsuffixed(SRIOV_NET_VF=4),), nested_aware=False),
        CandidateRequest((unsuffixed(VCPU=1, SRIOV_NET_VF=4),), nested_aware=False),
        CandidateRequest((unsuffixed(VCPU=1, SRIOV_NET_VF=4),)),
        CandidateRequest((unsuffixed(DISK_GB=10, SRIOV_NET_VF=4),), nested_aware=False),
        CandidateRequest((unsuffixed(VCPU=1, SRIOV_NET_VF=4, in_tree=f.uuid("pf1_2")),)),
        CandidateRequest((unsuffixed(VCPU=1, DISK_GB=10, in_tree=f.uuid("cn2")),)),
        CandidateRequest((unsuffixed(VCPU=1), granular("1", DISK_GB=10, in_tree=f.uuid("ss")))),
        CandidateRequest((unsuffixed(VCPU=1, in_tree=f.uuid("cn2")), granular("1", DISK_GB=10))),
        CandidateRequest((unsuffixed(VCPU=1, DISK_GB=10),), root_traits=required("HW_CPU_X86_SSE")),
        CandidateRequest((unsuffixed(DISK_GB=10), granular("1", VCPU=1))),
    ]


def _granular_requests(f):
    """Requests of granular.yaml on GranularFixture (1.25)."""
    in_a_or_c = AggregateRequirement(any_of=(frozenset({AGG_A, AGG_C}),))
    return [
        CandidateRequest(
            (granular("1", VCPU=1, MEMORY_MB=1024), granular("2", DISK_GB=100)),
            group_policy=policy,
            nested_aware=False,
        )
        for policy in GroupPolicy
    ] + [
        CandidateRequest(
            (
                granular("1", VCPU=1, traits=required(forbidden={"HW_CPU_X86_SSE"})),
                granular("2", DISK_GB=100, traits=required("CUSTOM_DISK_SSD"), aggregates=in_a_or_c),
            ),
            nested_aware=False,
        ),
        CandidateRequest(
            (
                unsuffixed(VCPU=2, MEMORY_MB=2048, SRIOV_NET_VF=1, CUSTOM_NET_MBPS=2000),
                granular("1", SRIOV_NET_VF=1, CUSTOM_NET_MBPS=3000),
            ),
            nested_aware=False,
        ),
        CandidateRequest((unsuffixed(VGPU=1), granular("1", VGPU=1), granular("2", VGPU=1)), nested_aware=False),
        CandidateRequest((unsuffixed(VCPU=1, SRIOV_NET_VF=1, aggregates=AggregateRequirement(any_of=(frozenset({AGG_C}),))),)),
    ]


@pytest.mark.parametrize("which", ["shared", "granular"])
def test_engine_agrees_with_the_reference_on_upstream_fixtures(store, which):
    fixture = shared_storage_fixture() if which == "shared" else granular_fixture()
    if which == "granular":
        store.create_resource_class("CUSTOM_NET_MBPS")
        for trait in ("CUSTOM_FOO", "CUSTOM_DISK_SSD"):
            store.ensure_trait(trait)
    world = _fixture_world(fixture)
    # write_world creates CUSTOM_X and the pool's traits, then the providers.
    write_world(store, world)
    providers = store.read_provider_changes(None).providers
    finder = CandidateFinder(store)
    requests = _shared_requests(fixture) if which == "shared" else _granular_requests(fixture)
    for request in requests:
        expected = reference_candidates(providers, request)
        got = finder.find(request)
        assert {a.key for a in got.allocation_requests} == expected.keys, request
        assert {s.uuid for s in got.provider_summaries} == expected.summary_uuids, request
