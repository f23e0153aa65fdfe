"""Builders for build records, in domain terms."""

from __future__ import annotations

import time

from berth.conductor.model import (
    Alternate,
    Attempt,
    Build,
    BuildInstance,
    InstanceState,
    Outcome,
)
from berth.placement.candidates.result import AllocationRequest
from berth.scheduler.spec import RequestSpec
from tests.support.builders import new_uuid


def new_build(instances: int = 1, num_alternates: int = 1, vcpu: int = 1, **spec_hints) -> Build:
    now = time.time()
    uuids = tuple(new_uuid() for _ in range(instances))
    spec = RequestSpec.simple({"VCPU": vcpu}, instance_uuids=uuids, **spec_hints)
    return Build(
        id=new_uuid(), request_spec=spec, num_alternates=num_alternates,
        instances=tuple(BuildInstance(u, InstanceState.SCHEDULING) for u in uuids),
        created_at=now, updated_at=now,
    )


def on_host(host: str, vcpu: int = 1) -> AllocationRequest:
    return AllocationRequest({host: {"VCPU": vcpu}}, {"": (host,)})


def building(build: Build, host: str, alternates: tuple[str, ...] = ()) -> Build:
    """Every instance building on ``host`` (first attempt), with alternates."""
    instances = tuple(
        BuildInstance(
            i.uuid, InstanceState.BUILDING, host=host, cell=None, claimed=on_host(host),
            alternates=tuple(Alternate(a, None, on_host(a)) for a in alternates),
            attempts=(Attempt(1, host, Outcome.BUILDING, started_at=time.time()),),
        )
        for i in build.instances
    )
    return Build(
        build.id, build.request_spec, build.num_alternates, instances,
        build.created_at, time.time(), build.version, build.lease,
    )
