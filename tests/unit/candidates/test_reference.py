"""The reference on its own, on upstream's gabbi fixtures and expectations.

Worlds are upstream's SharedStorageFixture and GranularFixture
(placement/tests/functional/fixtures/gabbits.py); each test cites the gabbi
test (file: name) whose answer it repeats, so the reference is trustworthy
before it is compared with anything. Allocation requests are written as
sets of (provider name, class, amount).
"""

from __future__ import annotations

import uuid as uuidlib

import pytest

from berth.placement.candidates.request import CandidateRequest, GroupPolicy, RequestGroup
from berth.placement.model import Inventory, ProviderSnapshot
from berth.placement.query import AggregateRequirement, TraitRequirement

from .reference import ReferenceResult, reference_candidates

AGG = "aaaaaaaa-0000-4000-8000-00000000000a"
AGG_A, AGG_B, AGG_C = (f"bbbbbbbb-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))


class Fixture:
    """Providers by name, built in order (parents first)."""

    def __init__(self) -> None:
        self.snapshots: dict[str, ProviderSnapshot] = {}

    def add(self, name, parent=None, aggregates=(), traits=(), **inventories) -> None:
        uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_DNS, name))
        root = self.snapshots[parent].root_provider_uuid if parent else uuid
        self.snapshots[name] = ProviderSnapshot(
            uuid=uuid,
            name=name,
            generation=0,
            root_provider_uuid=root,
            parent_provider_uuid=self.snapshots[parent].uuid if parent else None,
            inventories={
                rc: inv if isinstance(inv, Inventory) else Inventory(rc, total=inv) for rc, inv in inventories.items()
            },
            usages={},
            traits=frozenset(traits),
            aggregates=frozenset(aggregates),
        )

    def uuid(self, name: str) -> str:
        return self.snapshots[name].uuid

    def ask(self, *groups: RequestGroup, **request) -> ReferenceResult:
        return reference_candidates(tuple(self.snapshots.values()), CandidateRequest(groups=groups, **request))

    def named(self, result: ReferenceResult) -> set[frozenset]:
        names = {p.uuid: name for name, p in self.snapshots.items()}
        return {
            frozenset((names[rp], rc, n) for rp, res in areq.allocations.items() for rc, n in res.items())
            for areq in result.allocation_requests
        }

    def summary_names(self, result: ReferenceResult) -> set[str]:
        names = {p.uuid: name for name, p in self.snapshots.items()}
        return {names[uuid] for uuid in result.summary_uuids}


def unsuffixed(in_tree=None, traits=TraitRequirement(), aggregates=AggregateRequirement(), **resources) -> RequestGroup:
    return RequestGroup("", resources, traits, aggregates, in_tree)


def granular(suffix, in_tree=None, traits=TraitRequirement(), aggregates=AggregateRequirement(), **resources):
    return RequestGroup(suffix, resources, traits, aggregates, in_tree)


def required(*names, forbidden=()) -> TraitRequirement:
    return TraitRequirement(any_of=tuple(frozenset({n}) for n in names), forbidden=frozenset(forbidden))


@pytest.fixture
def shared() -> Fixture:
    return shared_storage_fixture()


def shared_storage_fixture() -> Fixture:
    """SharedStorageFixture: cn1 (no disk, SSE traits) and cn2 (local disk),
    each with two NUMA children holding a PF with 8 VFs; ss and ss2 share
    DISK_GB with both through one aggregate on the roots."""
    f = Fixture()
    vcpu = Inventory("VCPU", total=24, allocation_ratio=16.0)
    memory = Inventory("MEMORY_MB", total=128 * 1024, allocation_ratio=1.5)
    disk = Inventory("DISK_GB", total=2000, reserved=100)
    f.add("cn1", aggregates={AGG}, traits={"HW_CPU_X86_SSE", "HW_CPU_X86_SSE2"}, VCPU=vcpu, MEMORY_MB=memory)
    f.add("cn2", aggregates={AGG}, VCPU=vcpu, MEMORY_MB=memory, DISK_GB=disk)
    f.add("ss", aggregates={AGG}, traits={"MISC_SHARES_VIA_AGGREGATE"}, DISK_GB=disk)
    f.add("ss2", aggregates={AGG}, traits={"MISC_SHARES_VIA_AGGREGATE"}, DISK_GB=disk)
    for cn in ("1", "2"):
        for numa in ("1", "2"):
            f.add(f"numa{cn}_{numa}", parent=f"cn{cn}")
            f.add(f"pf{cn}_{numa}", parent=f"numa{cn}_{numa}", SRIOV_NET_VF=8)
    return f


def test_compute_with_shared_disk(shared):
    """allocation-candidates.yaml: "get allocation candidates with multiple
    limits picks the first one" (5 candidates): cn1 takes disk from either
    sharing provider, cn2 from itself or either sharing provider."""
    result = shared.ask(unsuffixed(VCPU=1, MEMORY_MB=1024, DISK_GB=100), nested_aware=False)
    cn1, cn2 = ({("cn1", "VCPU", 1), ("cn1", "MEMORY_MB", 1024)}, {("cn2", "VCPU", 1), ("cn2", "MEMORY_MB", 1024)})
    assert shared.named(result) == {
        frozenset(cn1 | {("ss", "DISK_GB", 100)}),
        frozenset(cn1 | {("ss2", "DISK_GB", 100)}),
        frozenset(cn2 | {("cn2", "DISK_GB", 100)}),
        frozenset(cn2 | {("ss", "DISK_GB", 100)}),
        frozenset(cn2 | {("ss2", "DISK_GB", 100)}),
    }


def test_required_trait_counts_on_the_providers_of_the_request(shared):
    """allocation-candidates.yaml: "get allocation candidates with required
    trait" (1.17: 2 candidates, 3 summaries) and "... with forbidden trait"
    (1.22: 3 candidates, all on cn2)."""
    result = shared.ask(unsuffixed(VCPU=1, MEMORY_MB=1024, DISK_GB=100, traits=required("HW_CPU_X86_SSE")), nested_aware=False)
    assert len(result.keys) == 2
    assert shared.summary_names(result) == {"cn1", "ss", "ss2"}
    result = shared.ask(
        unsuffixed(VCPU=1, MEMORY_MB=1024, DISK_GB=100, traits=required(forbidden={"HW_CPU_X86_SSE"})),
        nested_aware=False,
    )
    assert len(result.keys) == 3
    assert all(("cn2", "VCPU", 1) in areq for areq in shared.named(result))


def test_summaries_list_whole_trees_from_1_29(shared):
    """allocation-candidates.yaml: "... no root or parent uuid" (1.28: 2
    summaries) and "... with root and parent uuid" (1.29: 10 summaries)."""
    assert len(shared.summary_names(shared.ask(unsuffixed(VCPU=1), nested_aware=False))) == 2
    result = shared.ask(unsuffixed(VCPU=1))
    assert len(result.keys) == 2
    assert shared.summary_names(result) == {
        "cn1", "cn2", "numa1_1", "numa1_2", "numa2_1", "numa2_2", "pf1_1", "pf1_2", "pf2_1", "pf2_2",
    }  # fmt: skip


def test_nested_providers_before_and_after_1_29(shared):
    """allocation-candidates.yaml: "only nested provider old/new
    microversion" (4 and 4, summaries 4 and 10), "root and nested old/new
    microversion" (0, then 4 with 10 summaries) and "shared and nested old
    microversion" (8 candidates, 6 summaries)."""
    old = shared.ask(unsuffixed(SRIOV_NET_VF=4), nested_aware=False)
    assert (len(old.keys), len(old.summary_uuids)) == (4, 4)
    new = shared.ask(unsuffixed(SRIOV_NET_VF=4))
    assert (len(new.keys), len(new.summary_uuids)) == (4, 10)
    assert shared.ask(unsuffixed(VCPU=1, SRIOV_NET_VF=4), nested_aware=False).keys == frozenset()
    new = shared.ask(unsuffixed(VCPU=1, SRIOV_NET_VF=4))
    assert (len(new.keys), len(new.summary_uuids)) == (4, 10)
    old = shared.ask(unsuffixed(DISK_GB=10, SRIOV_NET_VF=4), nested_aware=False)
    assert (len(old.keys), len(old.summary_uuids)) == (8, 6)


def test_in_tree(shared):
    """allocation-candidates.yaml: the "in tree ..." tests at 1.31."""
    for where in ("cn1", "pf1_2"):
        result = shared.ask(unsuffixed(VCPU=1, SRIOV_NET_VF=4, in_tree=shared.uuid(where)))
        assert (len(result.keys), len(result.summary_uuids)) == (2, 5)
    # in_tree keeps sharing providers of other trees out of the unsuffixed group.
    assert shared.ask(unsuffixed(VCPU=1, DISK_GB=10, in_tree=shared.uuid("cn1"))).keys == frozenset()
    assert shared.named(shared.ask(unsuffixed(VCPU=1, DISK_GB=10, in_tree=shared.uuid("cn2")))) == {
        frozenset({("cn2", "VCPU", 1), ("cn2", "DISK_GB", 10)})
    }
    assert shared.ask(unsuffixed(VCPU=1, DISK_GB=10, in_tree=shared.uuid("ss"))).keys == frozenset()
    # A granular group in the tree of a child still finds the root's VCPU.
    assert shared.named(shared.ask(granular("1", VCPU=1, in_tree=shared.uuid("pf1_1")))) == {
        frozenset({("cn1", "VCPU", 1)})
    }


def test_granular_in_tree_of_a_sharing_provider_still_serves_other_trees(shared):
    """allocation-candidates.yaml: "in tree granular shared storage" (2),
    "in tree unnumbered compute granular disk from shared storage only" (2),
    "... from shared or local" (3) and "in tree granular compute and
    granular shared storage" (1)."""
    result = shared.ask(unsuffixed(VCPU=1), granular("1", DISK_GB=10, in_tree=shared.uuid("ss")))
    assert shared.named(result) == {
        frozenset({("cn1", "VCPU", 1), ("ss", "DISK_GB", 10)}),
        frozenset({("cn2", "VCPU", 1), ("ss", "DISK_GB", 10)}),
    }
    result = shared.ask(unsuffixed(VCPU=1, in_tree=shared.uuid("cn1")), granular("1", DISK_GB=10))
    assert len(result.keys) == 2
    result = shared.ask(unsuffixed(VCPU=1, in_tree=shared.uuid("cn2")), granular("1", DISK_GB=10))
    assert len(result.keys) == 3
    result = shared.ask(
        granular("1", VCPU=1, in_tree=shared.uuid("cn1")),
        granular("2", DISK_GB=10, in_tree=shared.uuid("ss")),
    )
    assert shared.named(result) == {frozenset({("cn1", "VCPU", 1), ("ss", "DISK_GB", 10)})}


def test_unknown_in_tree_means_no_candidates(shared):
    missing = "ffffffff-0000-4000-8000-000000000000"
    assert shared.ask(unsuffixed(VCPU=1, in_tree=missing)) == ReferenceResult((), frozenset())


@pytest.fixture
def granular_world() -> Fixture:
    return granular_fixture()


def granular_fixture() -> Fixture:
    """GranularFixture: three compute nodes and three sharing providers in
    aggregates A, B and C (no nested providers)."""
    f = Fixture()
    f.add(
        "cn_left",
        aggregates={AGG_A},
        traits={"HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_GPU_API_DXVA", "HW_NIC_DCB_PFC", "CUSTOM_FOO"},
        VCPU=8, MEMORY_MB=4096, DISK_GB=500, VGPU=8, SRIOV_NET_VF=8, CUSTOM_NET_MBPS=4000,
    )  # fmt: skip
    f.add(
        "cn_middle",
        aggregates={AGG_A, AGG_B},
        traits={"HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_CPU_X86_SSE", "HW_NIC_ACCEL_TLS"},
        VCPU=8, MEMORY_MB=4096, SRIOV_NET_VF=8, CUSTOM_NET_MBPS=4000,
    )  # fmt: skip
    f.add(
        "cn_right",
        aggregates={AGG_B, AGG_C},
        traits={"HW_CPU_X86_MMX", "HW_GPU_API_DXVA", "CUSTOM_DISK_SSD"},
        VCPU=8, MEMORY_MB=4096, DISK_GB=500, VGPU=Inventory("VGPU", total=8, max_unit=2),
    )  # fmt: skip
    f.add("shr_disk_1", aggregates={AGG_A}, traits={"MISC_SHARES_VIA_AGGREGATE", "CUSTOM_DISK_SSD"}, DISK_GB=1000)
    f.add("shr_disk_2", aggregates={AGG_A, AGG_B}, traits={"MISC_SHARES_VIA_AGGREGATE"}, DISK_GB=1000)
    f.add(
        "shr_net",
        aggregates={AGG_C},
        traits={"MISC_SHARES_VIA_AGGREGATE"},
        SRIOV_NET_VF=16,
        CUSTOM_NET_MBPS=40000,
    )
    return f


def test_isolate_and_none(granular_world):
    """granular.yaml (1.25): "disk sharing isolated" (5 candidates, 5
    summaries) and "disk sharing non-isolated" (7, 5)."""
    groups = (granular("1", VCPU=1, MEMORY_MB=1024), granular("2", DISK_GB=100))
    isolated = granular_world.ask(*groups, group_policy=GroupPolicy.ISOLATE, nested_aware=False)
    assert (len(isolated.keys), len(isolated.summary_uuids)) == (5, 5)
    shared = granular_world.ask(*groups, group_policy=GroupPolicy.NONE, nested_aware=False)
    assert (len(shared.keys), len(shared.summary_uuids)) == (7, 5)


def test_granular_traits_and_member_of_on_the_provider(granular_world):
    """granular.yaml: "isolated ssd" (cn_left and cn_middle with shr_disk_1)
    and "required, forbidden, member_of in" (2 candidates, 3 summaries)."""
    result = granular_world.ask(
        granular("1", VCPU=1, MEMORY_MB=1024),
        granular("2", DISK_GB=100, traits=required("CUSTOM_DISK_SSD")),
        group_policy=GroupPolicy.ISOLATE,
        nested_aware=False,
    )
    assert granular_world.named(result) == {
        frozenset({("cn_left", "VCPU", 1), ("cn_left", "MEMORY_MB", 1024), ("shr_disk_1", "DISK_GB", 100)}),
        frozenset({("cn_middle", "VCPU", 1), ("cn_middle", "MEMORY_MB", 1024), ("shr_disk_1", "DISK_GB", 100)}),
    }
    result = granular_world.ask(
        granular("1", VCPU=1, traits=required(forbidden={"HW_CPU_X86_SSE"})),
        granular(
            "2",
            DISK_GB=100,
            traits=required("CUSTOM_DISK_SSD"),
            aggregates=AggregateRequirement(any_of=(frozenset({AGG_A, AGG_C}),)),
        ),
        nested_aware=False,
    )
    assert granular_world.named(result) == {
        frozenset({("cn_left", "VCPU", 1), ("shr_disk_1", "DISK_GB", 100)}),
        frozenset({("cn_right", "VCPU", 1), ("cn_right", "DISK_GB", 100)}),
    }
    assert granular_world.summary_names(result) == {"cn_left", "cn_right", "shr_disk_1"}


def test_groups_on_one_provider_must_fit_together(granular_world):
    """granular.yaml: "combining request groups exceeds capacity" (only
    cn_right with shr_net) and "... exceeds max_unit" (only cn_left: the
    summed amount must respect max_unit)."""
    result = granular_world.ask(
        unsuffixed(VCPU=2, MEMORY_MB=2048, SRIOV_NET_VF=1, CUSTOM_NET_MBPS=2000),
        granular("1", SRIOV_NET_VF=1, CUSTOM_NET_MBPS=3000),
        nested_aware=False,
    )
    assert granular_world.named(result) == {
        frozenset(
            {
                ("cn_right", "VCPU", 2),
                ("cn_right", "MEMORY_MB", 2048),
                ("shr_net", "SRIOV_NET_VF", 2),
                ("shr_net", "CUSTOM_NET_MBPS", 5000),
            }
        )
    }
    assert granular_world.summary_names(result) == {"cn_right", "shr_net"}
    result = granular_world.ask(unsuffixed(VGPU=1), granular("1", VGPU=1), granular("2", VGPU=1), nested_aware=False)
    assert granular_world.named(result) == {frozenset({("cn_left", "VGPU", 3)})}


def test_unsuffixed_member_of_reaches_sharing_providers_in_the_aggregate(granular_world):
    """The unsuffixed group's member_of applies to the provider or the
    anchor's root; a sharing provider serving another tree must itself be
    in the aggregate (research_context.get_rps_with_shared_capacity)."""
    in_c = AggregateRequirement(any_of=(frozenset({AGG_C}),))
    result = granular_world.ask(unsuffixed(VCPU=1, SRIOV_NET_VF=1, aggregates=in_c))
    # cn_right is in C and takes VFs from shr_net (in C); cn_left is not in C.
    assert granular_world.named(result) == {frozenset({("cn_right", "VCPU", 1), ("shr_net", "SRIOV_NET_VF", 1)})}
    in_b = AggregateRequirement(any_of=(frozenset({AGG_B}),))
    result = granular_world.ask(unsuffixed(VCPU=1, SRIOV_NET_VF=1, aggregates=in_b))
    # cn_middle is in B and has its own VFs; cn_right is in B but shr_net is not.
    assert granular_world.named(result) == {frozenset({("cn_middle", "VCPU", 1), ("cn_middle", "SRIOV_NET_VF", 1)})}


def test_same_subtree_and_resourceless_groups():
    """same-subtree-deep.yaml in small: a resourceless group names the
    provider under which the other groups' providers must sit."""
    f = Fixture()
    f.add("cn", VCPU=4)
    f.add("numa0", parent="cn", traits={"CUSTOM_NUMA"})
    f.add("numa1", parent="cn", traits={"CUSTOM_NUMA"})
    f.add("pf0", parent="numa0", SRIOV_NET_VF=4)
    f.add("pf1", parent="numa1", SRIOV_NET_VF=4)
    f.add("gpu1", parent="numa1", VGPU=1)
    numa = granular("_NUMA", traits=required("CUSTOM_NUMA"))
    result = f.ask(
        granular("_NET", SRIOV_NET_VF=1),
        granular("_GPU", VGPU=1),
        numa,
        group_policy=GroupPolicy.NONE,
        same_subtrees=(frozenset({"_NET", "_GPU", "_NUMA"}),),
    )
    assert f.named(result) == {frozenset({("pf1", "SRIOV_NET_VF", 1), ("gpu1", "VGPU", 1)})}
    (areq,) = result.allocation_requests
    assert areq.mappings["_NUMA"] == (f.uuid("numa1"),)
    # Resourceless groups take part in isolate: numa1 may serve both
    # resourceless groups with group_policy=none, not with isolate.
    groups = (granular("_GPU", VGPU=1), numa, granular("_N2", traits=required("CUSTOM_NUMA")))
    subtree = (frozenset({"_GPU", "_NUMA", "_N2"}),)
    assert len(f.ask(*groups, group_policy=GroupPolicy.NONE, same_subtrees=subtree).keys) == 1
    assert f.ask(*groups, group_policy=GroupPolicy.ISOLATE, same_subtrees=subtree).keys == frozenset()


def test_resourceless_group_needs_a_positive_filter():
    """Checked against Placement 16.0.0 itself (see test_engine_cases.py):
    a resourceless group with only forbidden traits matches nothing."""
    f = Fixture()
    f.add("cn", MEMORY_MB=4)
    f.add("child", parent="cn", traits={"CUSTOM_T2"})
    only_forbidden = granular("2", traits=required(forbidden={"CUSTOM_T1"}))
    result = f.ask(granular("1", MEMORY_MB=1), only_forbidden, same_subtrees=(frozenset({"1", "2"}),))
    assert result.keys == frozenset()
    with_required = granular("2", traits=required("CUSTOM_T2"))
    result = f.ask(granular("1", MEMORY_MB=1), with_required, same_subtrees=(frozenset({"1", "2"}),))
    assert len(result.keys) == 1


def test_root_required_checks_the_anchor_root(shared):
    """root_required (1.35) is about the root of the tree a candidate
    serves; a sharing provider's own tree does not matter."""
    result = shared.ask(unsuffixed(VCPU=1, DISK_GB=10), root_traits=required("HW_CPU_X86_SSE"))
    assert shared.named(result) == {
        frozenset({("cn1", "VCPU", 1), ("ss", "DISK_GB", 10)}),
        frozenset({("cn1", "VCPU", 1), ("ss2", "DISK_GB", 10)}),
    }


def test_unsuffixed_wholly_from_sharing_providers_keeps_every_anchor(shared):
    """The one place the reference departs from upstream on purpose: the
    unsuffixed group takes DISK_GB from ss alone, and the granular group's
    VCPU may come from cn1 or cn2 (both share with ss). Upstream puts the
    unsuffixed group's candidates in a set that ignores the anchor
    (allocation_candidate._alloc_candidates_multiple_providers), so the
    {ss: DISK_GB} candidate survives under the first anchor tree met, an
    accident of set order over internal ids, and merges only with granular
    candidates of that tree. Placement 16.0.0 answered this very request
    with cn2's local disk only (the sharing candidates survived under ss's
    and ss2's own trees, which have no VCPU); the reference answers every
    anchor, a superset of upstream's answer."""
    result = shared.ask(unsuffixed(DISK_GB=10, in_tree=None), granular("1", VCPU=1))
    ss_variants = {areq for areq in shared.named(result) if ("ss", "DISK_GB", 10) in areq}
    assert ss_variants == {
        frozenset({("ss", "DISK_GB", 10), ("cn1", "VCPU", 1)}),
        frozenset({("ss", "DISK_GB", 10), ("cn2", "VCPU", 1)}),
    }
