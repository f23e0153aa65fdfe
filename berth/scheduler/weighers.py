"""Weighers: each gives one raw number per host, for all the hosts of a
pass in one call.

Raw values are normalised once, by the pipeline, to 0..1 over the hosts
being weighed, then multiplied by the weigher's multiplier: a positive
multiplier prefers hosts with a high raw value (spread, for free capacity),
a negative one hosts with a low value (pack).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol

from berth.scheduler.context import RequestContext
from berth.scheduler.hosts import HostState, free_capacities
from berth.scheduler.registry import Registry
from berth.scheduler.spec import GroupPolicy


class Weigher(Protocol):
    name: ClassVar[str]

    def weigh(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[float]:
        """One raw value per host, in the order of ``hosts``."""
        ...


WEIGHERS: Registry[Weigher] = Registry("weigher")


def _none(hosts: Sequence[HostState]) -> list[float]:
    return [0.0] * len(hosts)


@WEIGHERS.register("ram")
class FreeRamWeigher:
    def weigh(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[float]:
        return free_capacities(hosts, "MEMORY_MB")


@WEIGHERS.register("vcpu")
class FreeVcpuWeigher:
    def weigh(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[float]:
        return free_capacities(hosts, "VCPU")


@WEIGHERS.register("disk")
class FreeDiskWeigher:
    def weigh(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[float]:
        return free_capacities(hosts, "DISK_GB")


@WEIGHERS.register("soft_affinity")
class SoftAffinityWeigher:
    """More group members on the host is better (soft-affinity groups)."""

    def weigh(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[float]:
        if ctx.group_policy is not GroupPolicy.SOFT_AFFINITY:
            return _none(hosts)
        return [float(ctx.group_hosts.get(host.uuid, 0)) for host in hosts]


@WEIGHERS.register("soft_anti_affinity")
class SoftAntiAffinityWeigher:
    """Fewer group members on the host is better (soft-anti-affinity)."""

    def weigh(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[float]:
        if ctx.group_policy is not GroupPolicy.SOFT_ANTI_AFFINITY:
            return _none(hosts)
        return [-float(ctx.group_hosts.get(host.uuid, 0)) for host in hosts]


@WEIGHERS.register("build_failure")
class BuildFailureWeigher:
    """Hosts where builds failed recently rank lower (a broken host would
    otherwise keep winning: it looks empty because its builds fail)."""

    def weigh(self, hosts: Sequence[HostState], ctx: RequestContext) -> list[float]:
        if not ctx.build_failures:
            return _none(hosts)
        return [-float(ctx.build_failures.get(host.uuid, 0)) for host in hosts]
