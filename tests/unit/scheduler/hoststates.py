"""Builders of HostStates without a store, for filter and weigher tests."""

from __future__ import annotations

from berth.placement.candidates.result import AllocationRequest
from berth.scheduler.context import RequestContext
from berth.scheduler.hosts import HostState, Ledger
from berth.scheduler.spec import RequestSpec, SchedulingHints
from tests.support.builders import new_uuid


def host_state(
    *, vcpu: int = 8, used_vcpu: int = 0, ram: int = 8192, disk: int = 100,
    want_vcpu: int = 1, cell: str | None = None, traits: frozenset[str] = frozenset(),
    aggregates: frozenset[str] = frozenset(), ledger: Ledger | None = None,
) -> HostState:
    uuid = new_uuid()
    ledger = ledger or Ledger()
    ledger.add_provider(
        uuid, {"VCPU": vcpu, "MEMORY_MB": ram, "DISK_GB": disk}, {"VCPU": used_vcpu},
    )
    request = AllocationRequest({uuid: {"VCPU": want_vcpu}}, {"": (uuid,)})
    return HostState(uuid, cell, traits, aggregates, (uuid,), [request], ledger)


def context(hints: SchedulingHints = SchedulingHints(), **fields) -> RequestContext:
    return RequestContext(spec=RequestSpec.simple({"VCPU": 1}, hints=hints), **fields)
