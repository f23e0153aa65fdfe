"""A build record as JSON text, the form both backends store it in (one
document per build, compare-and-set on its version kept beside it)."""

from __future__ import annotations

from typing import Any

import orjson

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


def encode(build: Build) -> str:
    """The build without its version (the store keeps that in a column)."""
    return orjson.dumps({
        "id": build.id,
        "spec": _spec(build.request_spec),
        "num_alternates": build.num_alternates,
        "instances": [_instance(i) for i in build.instances],
        "created_at": build.created_at,
        "updated_at": build.updated_at,
        "lease": None if build.lease is None else [build.lease.owner, build.lease.expires_at],
    }).decode()


def decode(text: str, version: int) -> Build:
    data = orjson.loads(text)
    lease = data["lease"]
    return Build(
        id=data["id"],
        request_spec=_read_spec(data["spec"]),
        num_alternates=data["num_alternates"],
        instances=tuple(_read_instance(i) for i in data["instances"]),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        version=version,
        lease=None if lease is None else Lease(lease[0], lease[1]),
    )


# -- the request spec ------------------------------------------------------------


def _traits(req: TraitRequirement) -> dict:
    return {"any_of": [sorted(s) for s in req.any_of], "forbidden": sorted(req.forbidden)}


def _read_traits(data: dict) -> TraitRequirement:
    return TraitRequirement(tuple(frozenset(s) for s in data["any_of"]), frozenset(data["forbidden"]))


def _aggregates(req: AggregateRequirement) -> dict:
    return {"any_of": [sorted(s) for s in req.any_of], "forbidden": sorted(req.forbidden)}


def _read_aggregates(data: dict) -> AggregateRequirement:
    return AggregateRequirement(tuple(frozenset(s) for s in data["any_of"]), frozenset(data["forbidden"]))


def _group(group: RequestGroup) -> dict:
    return {
        "suffix": group.suffix, "resources": dict(group.resources), "traits": _traits(group.traits),
        "aggregates": _aggregates(group.aggregates), "in_tree": group.in_tree,
    }


def _read_group(data: dict) -> RequestGroup:
    return RequestGroup(
        data["suffix"], dict(data["resources"]), _read_traits(data["traits"]),
        _read_aggregates(data["aggregates"]), data["in_tree"],
    )


def _spec(spec: RequestSpec) -> dict:
    request = spec.request
    hints = spec.hints
    group = hints.server_group
    return {
        "groups": [_group(g) for g in request.groups],
        "group_policy": request.group_policy.value,
        "root_traits": _traits(request.root_traits),
        "same_subtrees": [sorted(s) for s in request.same_subtrees],
        "project_id": spec.project_id,
        "user_id": spec.user_id,
        "instance_uuids": list(spec.instance_uuids),
        "consumer_type": spec.consumer_type,
        "hints": {
            "cell": hints.cell,
            "availability_zone": hints.availability_zone,
            "server_group": None if group is None else {
                "uuid": group.uuid, "policy": group.policy.value, "members": list(group.members),
                "max_server_per_host": group.max_server_per_host,
            },
            "same_host": list(hints.same_host),
            "different_host": list(hints.different_host),
            "max_instances_per_host": hints.max_instances_per_host,
        },
    }


def _read_spec(data: dict) -> RequestSpec:
    hints = data["hints"]
    group = hints["server_group"]
    return RequestSpec(
        CandidateRequest(
            tuple(_read_group(g) for g in data["groups"]),
            group_policy=GroupPolicy(data["group_policy"]),
            root_traits=_read_traits(data["root_traits"]),
            same_subtrees=tuple(frozenset(s) for s in data["same_subtrees"]),
        ),
        data["project_id"],
        data["user_id"],
        tuple(data["instance_uuids"]),
        SchedulingHints(
            cell=hints["cell"],
            availability_zone=hints["availability_zone"],
            server_group=None if group is None else ServerGroup(
                group["uuid"], ServerGroupPolicy(group["policy"]), tuple(group["members"]),
                group["max_server_per_host"],
            ),
            same_host=tuple(hints["same_host"]),
            different_host=tuple(hints["different_host"]),
            max_instances_per_host=hints["max_instances_per_host"],
        ),
        data["consumer_type"],
    )


# -- instances ---------------------------------------------------------------------


def _allocation(request: AllocationRequest | None) -> Any:
    if request is None:
        return None
    return {
        "allocations": {rp: dict(res) for rp, res in request.allocations.items()},
        "mappings": {suffix: list(rps) for suffix, rps in request.mappings.items()},
    }


def _read_allocation(data: Any) -> AllocationRequest | None:
    if data is None:
        return None
    return AllocationRequest(
        {rp: dict(res) for rp, res in data["allocations"].items()},
        {suffix: tuple(rps) for suffix, rps in data["mappings"].items()},
    )


def _attempt(attempt: Attempt) -> dict:
    return {
        "number": attempt.number, "host": attempt.host, "outcome": attempt.outcome.value,
        "started_at": attempt.started_at, "reason": attempt.reason,
        "failure_kind": None if attempt.failure_kind is None else attempt.failure_kind.value,
        "finished_at": attempt.finished_at, "deadline": attempt.deadline,
    }


def _read_attempt(data: dict) -> Attempt:
    kind = data["failure_kind"]
    return Attempt(
        data["number"], data["host"], Outcome(data["outcome"]), data["started_at"], data["reason"],
        None if kind is None else FailureKind(kind), data["finished_at"], data.get("deadline"),
    )


def _migration(migration: Migration | None) -> Any:
    if migration is None:
        return None
    return {
        "uuid": migration.uuid, "state": migration.state.value, "source_host": migration.source_host,
        "requested_at": migration.requested_at, "destination_host": migration.destination_host,
        "reason": migration.reason,
    }


def _read_migration(data: Any) -> Migration | None:
    if data is None:
        return None
    return Migration(
        data["uuid"], MigrationState(data["state"]), data["source_host"], data["requested_at"],
        data["destination_host"], data["reason"],
    )


def _instance(instance: BuildInstance) -> dict:
    return {
        "uuid": instance.uuid,
        "state": instance.state.value,
        "host": instance.host,
        "cell": instance.cell,
        "claimed": _allocation(instance.claimed),
        "alternates": [
            {"host": a.host, "cell": a.cell, "allocation_request": _allocation(a.allocation_request)}
            for a in instance.alternates
        ],
        "attempts": [_attempt(a) for a in instance.attempts],
        "fault": instance.fault,
        "released": instance.released,
        "migration": _migration(instance.migration),
    }


def _read_instance(data: dict) -> BuildInstance:
    return BuildInstance(
        uuid=data["uuid"],
        state=InstanceState(data["state"]),
        host=data["host"],
        cell=data["cell"],
        claimed=_read_allocation(data["claimed"]),
        alternates=tuple(
            Alternate(a["host"], a["cell"], _read_allocation(a["allocation_request"]))
            for a in data["alternates"]
        ),
        attempts=tuple(_read_attempt(a) for a in data["attempts"]),
        fault=data["fault"],
        released=data["released"],
        migration=_read_migration(data["migration"]),
    )
