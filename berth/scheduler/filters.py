"""Host filters: each answers one question about one host.

The filters that can be queries are queries: resources, traits, aggregates,
granular groups and trees go to the candidate index with the spec's
CandidateRequest. What is left runs here, on the hosts the search found.
A filter returns a Status per host (Kubernetes' lesson): it fits, or the
reason it does not, which the explanation counts. It is asked about all the
hosts of a pass at once: a filter whose hint the request does not use
answers for all of them in one step, and the ones that apply pay one call,
not one per host.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
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


def all_pass(hosts: Sequence[HostState]) -> list[Status]:
    return [PASS] * len(hosts)


class HostFilter(Protocol):
    name: ClassVar[str]
    # True when the answer for one host depends on where the server group's
    # members are on *other* hosts (ctx.group_hosts): after a placement
    # that changes them, the pipeline re-checks every host with it, not
    # only the hosts the placement touched.
    request_scoped: ClassVar[bool]
    # False when nothing a placement changes (the ledger, the group's
    # hosts, the instances placed) can change the answer for a host: the
    # host's traits, aggregates or cell, the hints resolved once. A host
    # that passed such a filter is not asked it again after a placement.
    changes_with_placements: ClassVar[bool]

    def check(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[Status]:
        """One Status per host, in the order of ``hosts``."""
        ...


FILTERS: Registry[HostFilter] = Registry("filter")


@FILTERS.register("disabled")
class DisabledFilter:
    """A compute agent marks its host disabled with a trait (Nova's
    COMPUTE_STATUS_DISABLED) rather than a flag only it knows."""

    request_scoped = False
    changes_with_placements = False
    refused = reject(f"host is disabled ({DISABLED_TRAIT})")

    def check(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[Status]:
        return [self.refused if DISABLED_TRAIT in host.traits else PASS for host in hosts]


@FILTERS.register("resources")
class ResourcesFilter:
    """The query checked capacity for one instance; later instances of the
    same request must fit what the earlier ones took (the local ledger)."""

    request_scoped = False
    changes_with_placements = True

    def check(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[Status]:
        # A ledger nothing was consumed from yet holds what the query
        # checked the host's candidates against: they fit.
        return [
            PASS if not host.ledger.consumed or host.fitting_request() is not None else self._short(host)
            for host in hosts
        ]

    @staticmethod
    def _short(host: HostState) -> Status:
        short = host.ledger.short_of(host.allocation_requests[0]) if host.allocation_requests else None
        return reject(f"not enough {short or 'resources'} left after earlier instances of the request")


@FILTERS.register("availability_zone")
class AvailabilityZoneFilter:
    request_scoped = False
    changes_with_placements = False

    def check(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[Status]:
        zone = ctx.spec.hints.availability_zone
        if zone is None:
            return all_pass(hosts)
        aggregate, refused = zone_aggregate(zone), reject(f"not in availability zone {zone}")
        return [PASS if aggregate in host.aggregates else refused for host in hosts]


@FILTERS.register("cell")
class CellFilter:
    request_scoped = False
    changes_with_placements = False

    def check(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[Status]:
        cell = ctx.spec.hints.cell
        if cell is None:
            return all_pass(hosts)
        refused = reject(f"not in cell {cell}")
        return [PASS if host.cell == cell else refused for host in hosts]


@FILTERS.register("affinity")
class AffinityFilter:
    """Hard affinity: once the group has a host, only that host."""

    # The group's first placement narrows every other host.
    request_scoped = True
    changes_with_placements = True
    refused = reject("server group affinity: not the group's host")

    def check(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[Status]:
        if ctx.group_policy is not GroupPolicy.AFFINITY or not ctx.group_hosts:
            return all_pass(hosts)
        return [PASS if host.uuid in ctx.group_hosts else self.refused for host in hosts]


@FILTERS.register("anti_affinity")
class AntiAffinityFilter:
    """Hard anti-affinity: at most max_server_per_host members per host."""

    request_scoped = False
    changes_with_placements = True
    refused = reject("server group anti-affinity: host already holds a member")

    def check(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[Status]:
        group = ctx.spec.hints.server_group
        if group is None or group.policy is not GroupPolicy.ANTI_AFFINITY:
            return all_pass(hosts)
        members, cap = ctx.group_hosts, group.max_server_per_host
        return [PASS if members.get(host.uuid, 0) < cap else self.refused for host in hosts]


@FILTERS.register("same_host")
class SameHostFilter:
    request_scoped = False
    changes_with_placements = False
    refused = reject("same_host: not the host of the named instances")

    def check(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[Status]:
        if not ctx.spec.hints.same_host:
            return all_pass(hosts)
        return [PASS if host.uuid in ctx.same_hosts else self.refused for host in hosts]


@FILTERS.register("different_host")
class DifferentHostFilter:
    request_scoped = False
    changes_with_placements = False
    refused = reject("different_host: holds one of the named instances")

    def check(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[Status]:
        if not ctx.different_hosts:
            return all_pass(hosts)
        return [self.refused if host.uuid in ctx.different_hosts else PASS for host in hosts]


@FILTERS.register("max_instances_per_host")
class MaxInstancesPerHostFilter:
    """At most N instances on one host: those already there (consumers of
    type INSTANCE in the host's tree, ``ctx.resident``) and this request's
    (the spread a caller wants without a server group). Checked when the
    scheduler decides, as Nova's filter is: two requests deciding at once
    may together pass the cap; the store's claims guard capacity only."""

    request_scoped = False
    changes_with_placements = True

    def check(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[Status]:
        cap = ctx.spec.hints.max_instances_per_host
        if not cap:
            return all_pass(hosts)
        return [self._one(ctx.instances_on(host.uuid), cap) for host in hosts]

    @staticmethod
    def _one(held: int, cap: int) -> Status:
        if held >= cap:
            return reject(f"already holds {held} instance(s), at most {cap} per host")
        return PASS
