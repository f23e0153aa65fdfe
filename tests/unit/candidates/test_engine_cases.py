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
from berth.placement.query import TraitRequirement

from .reference import reference_candidates
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
