"""Host filters: each answers one question about one host.

The filters that can be queries are queries: resources, traits, aggregates,
granular groups and trees go to the candidate index with the spec's
CandidateRequest. What is left runs here, on the hosts the search found.
A filter returns a Status (Kubernetes' lesson): it fits, or the reason it
does not, which the explanation counts.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Protocol

from berth.scheduler.context import RequestContext
from berth.scheduler.hosts import HostState
from berth.scheduler.registry import Registry
from berth.scheduler.spec import GroupPolicy, zone_aggregate

DISABLED_TRAIT = "COMPUTE_STATUS_DISABLED"


@dataclasses.dataclass(frozen=True, slots=True)
class Status:
    fits: bool
    reason: str = ""


PASS = Status(True)


def reject(reason: str) -> Status:
    return Status(False, reason)


class HostFilter(Protocol):
    name: ClassVar[str]
    # True when the answer for one host depends on where the server group's
    # members are on *other* hosts (ctx.group_hosts): after a placement
    # that changes them, the pipeline re-checks every host with it, not
    # only the hosts the placement touched.
    request_scoped: ClassVar[bool]

    def check(self, host: HostState, ctx: RequestContext) -> Status: ...


FILTERS: Registry[HostFilter] = Registry("filter")


@FILTERS.register("disabled")
class DisabledFilter:
    """A compute agent marks its host disabled with a trait (Nova's
    COMPUTE_STATUS_DISABLED) rather than a flag only it knows."""

    request_scoped = False

    def check(self, host: HostState, ctx: RequestContext) -> Status:
        if DISABLED_TRAIT in host.traits:
            return reject(f"host is disabled ({DISABLED_TRAIT})")
        return PASS


@FILTERS.register("resources")
class ResourcesFilter:
    """The query checked capacity for one instance; later instances of the
    same request must fit what the earlier ones took (the local ledger)."""

    request_scoped = False

    def check(self, host: HostState, ctx: RequestContext) -> Status:
        if host.fitting_request() is not None:
            return PASS
        short = host.ledger.short_of(host.allocation_requests[0]) if host.allocation_requests else None
        return reject(f"not enough {short or 'resources'} left after earlier instances of the request")


@FILTERS.register("availability_zone")
class AvailabilityZoneFilter:
    request_scoped = False

    def check(self, host: HostState, ctx: RequestContext) -> Status:
        zone = ctx.spec.hints.availability_zone
        if zone is None or zone_aggregate(zone) in host.aggregates:
            return PASS
        return reject(f"not in availability zone {zone}")


@FILTERS.register("cell")
class CellFilter:
    request_scoped = False

    def check(self, host: HostState, ctx: RequestContext) -> Status:
        cell = ctx.spec.hints.cell
        if cell is None or host.cell == cell:
            return PASS
        return reject(f"not in cell {cell}")


@FILTERS.register("affinity")
class AffinityFilter:
    """Hard affinity: once the group has a host, only that host."""

    # The group's first placement narrows every other host.
    request_scoped = True

    def check(self, host: HostState, ctx: RequestContext) -> Status:
        if ctx.group_policy is not GroupPolicy.AFFINITY or not ctx.group_hosts:
            return PASS
        if host.uuid in ctx.group_hosts:
            return PASS
        return reject("server group affinity: not the group's host")


@FILTERS.register("anti_affinity")
class AntiAffinityFilter:
    """Hard anti-affinity: at most max_server_per_host members per host."""

    request_scoped = False

    def check(self, host: HostState, ctx: RequestContext) -> Status:
        group = ctx.spec.hints.server_group
        if group is None or group.policy is not GroupPolicy.ANTI_AFFINITY:
            return PASS
        if ctx.group_hosts.get(host.uuid, 0) < group.max_server_per_host:
            return PASS
        return reject("server group anti-affinity: host already holds a member")


@FILTERS.register("same_host")
class SameHostFilter:
    request_scoped = False

    def check(self, host: HostState, ctx: RequestContext) -> Status:
        if not ctx.spec.hints.same_host or host.uuid in ctx.same_hosts:
            return PASS
        return reject("same_host: not the host of the named instances")


@FILTERS.register("different_host")
class DifferentHostFilter:
    request_scoped = False

    def check(self, host: HostState, ctx: RequestContext) -> Status:
        if host.uuid in ctx.different_hosts:
            return reject("different_host: holds one of the named instances")
        return PASS


@FILTERS.register("max_instances_per_host")
class MaxInstancesPerHostFilter:
    """At most N instances on one host: those already there (consumers of
    type INSTANCE in the host's tree, ``ctx.resident``) and this request's
    (the spread a caller wants without a server group). Checked when the
    scheduler decides, as Nova's filter is: two requests deciding at once
    may together pass the cap; the store's claims guard capacity only."""

    request_scoped = False

    def check(self, host: HostState, ctx: RequestContext) -> Status:
        cap = ctx.spec.hints.max_instances_per_host
        if not cap:
            return PASS
        held = ctx.instances_on(host.uuid)
        if held >= cap:
            return reject(f"already holds {held} instance(s), at most {cap} per host")
        return PASS
