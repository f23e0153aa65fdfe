"""A build survives the store's JSON form with every field: granular
groups, traits and aggregates, hints, attempts, alternates, a migration."""

from __future__ import annotations

from berth.conductor.model import (
    Alternate,
    Attempt,
    Build,
    BuildInstance,
    FailureKind,
    InstanceState,
    Lease,
    Migration,
    MigrationState,
    Outcome,
)
from berth.placement.candidates.request import CandidateRequest, GroupPolicy, RequestGroup
from berth.placement.candidates.result import AllocationRequest
from berth.placement.query import AggregateRequirement, TraitRequirement
from berth.scheduler.spec import GroupPolicy as ServerGroupPolicy
from berth.scheduler.spec import RequestSpec, SchedulingHints, ServerGroup
from berth.store import build_codec


def _spec() -> RequestSpec:
    return RequestSpec(
        CandidateRequest(
            (
                RequestGroup("", {"VCPU": 2, "MEMORY_MB": 512},
                             TraitRequirement((frozenset({"HW_CPU_X86_AVX2"}), frozenset({"A", "B"})), frozenset({"S"})),
                             AggregateRequirement((frozenset({"agg1", "agg2"}),), frozenset({"agg3"}))),
                RequestGroup("_NET", {"SRIOV_NET_VF": 1}, in_tree="tree-uuid"),
            ),
            group_policy=GroupPolicy.ISOLATE,
            root_traits=TraitRequirement((frozenset({"ROOT"}),), frozenset({"NOT_ROOT"})),
            same_subtrees=(frozenset({"_NET", "_GPU"}),),
        ),
        "project", "user", ("i1", "i2"),
        SchedulingHints(
            cell="c1", availability_zone="az1",
            server_group=ServerGroup("g", ServerGroupPolicy.ANTI_AFFINITY, ("m1",), 2),
            same_host=("s",), different_host=("d",), max_instances_per_host=3,
        ),
    )


def test_every_field_comes_back():
    allocation = AllocationRequest({"rp1": {"VCPU": 2}, "rp2": {"SRIOV_NET_VF": 1}}, {"": ("rp1",), "_NET": ("rp2",)})
    instance = BuildInstance(
        "i1", InstanceState.ACTIVE, host="h1", cell="c1", claimed=allocation,
        alternates=(Alternate("h2", "c1", allocation),),
        attempts=(
            Attempt(1, "h0", Outcome.FAILED, 1.5, "port", FailureKind.NETWORK, 2.5),
            Attempt(2, "h1", Outcome.SUCCEEDED, 3.0, None, None, 4.0),
        ),
        fault=None, released=False,
        migration=Migration("m", MigrationState.MIGRATED, "h0", 5.0, "h1", None),
    )
    build = Build(
        "b", _spec(), 2, (instance, BuildInstance("i2", InstanceState.ERROR, fault="no host", released=True)),
        10.0, 11.0, version=7, lease=Lease("c", 99.0),
    )
    assert build_codec.decode(build_codec.encode(build), 7) == build
