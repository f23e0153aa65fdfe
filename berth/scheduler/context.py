"""The per-request context filters and weighers read: the spec, the hints
resolved against the store once (which hosts hold the server group's
members, the same-host and different-host instances), the instances
already on the hosts of a search, the instances of this request placed so
far, and recent build failures.

Immutable: placing an instance gives a new context (``placed_on``), so a
filter never sees a half-updated one (Kubernetes' CycleState, without the
mutation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from berth.scheduler.spec import INSTANCE_CONSUMER_TYPE, GroupPolicy, RequestSpec
from berth.store.port import Store


@dataclasses.dataclass(frozen=True, slots=True)
class RequestContext:
    spec: RequestSpec
    # host -> how many members of the server group it holds (this
    # request's instances included, once placed).
    group_hosts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    same_hosts: frozenset[str] = frozenset()
    different_hosts: frozenset[str] = frozenset()
    # host -> instances of this request placed on it.
    placed: Mapping[str, int] = dataclasses.field(default_factory=dict)
    # host -> instances it held before this request (read for the hosts of
    # a search, and only when a hint needs them: with_resident_instances).
    resident: Mapping[str, int] = dataclasses.field(default_factory=dict)
    # host -> builds that failed there recently.
    build_failures: Mapping[str, int] = dataclasses.field(default_factory=dict)

    @property
    def group_policy(self) -> GroupPolicy | None:
        group = self.spec.hints.server_group
        return group.policy if group is not None else None

    def instances_on(self, host: str) -> int:
        """Instances on ``host``: there before this request, and placed by it."""
        return self.resident.get(host, 0) + self.placed.get(host, 0)

    def placed_on(self, host: str) -> RequestContext:
        placed = dict(self.placed)
        placed[host] = placed.get(host, 0) + 1
        group_hosts = self.group_hosts
        if self.spec.hints.server_group is not None:
            group_hosts = dict(group_hosts)
            group_hosts[host] = group_hosts.get(host, 0) + 1
        # The constructor, not dataclasses.replace: this runs once per
        # instance placed, and replace costs three times as much.
        return RequestContext(
            spec=self.spec, group_hosts=group_hosts, same_hosts=self.same_hosts,
            different_hosts=self.different_hosts, placed=placed, resident=self.resident,
            build_failures=self.build_failures,
        )


def _hosts_of(store: Store, instances: Iterable[str]) -> dict[str, int]:
    """host (root provider) -> how many of ``instances`` it holds."""
    counts: dict[str, int] = {}
    for instance in instances:
        held = store.get_consumer_allocations(instance)
        roots = {a.provider.root_provider_uuid for a in held.allocations}
        for root in roots:
            counts[root] = counts.get(root, 0) + 1
    return counts


def resolve(spec: RequestSpec, store: Store, build_failures: Mapping[str, int]) -> RequestContext:
    """The context for ``spec``: one store read per instance a hint names."""
    hints = spec.hints
    group_hosts = _hosts_of(store, hints.server_group.members) if hints.server_group else {}
    return RequestContext(
        spec=spec,
        group_hosts=group_hosts,
        same_hosts=frozenset(_hosts_of(store, hints.same_host)),
        different_hosts=frozenset(_hosts_of(store, hints.different_host)),
        build_failures=dict(build_failures),
    )


def with_resident_instances(ctx: RequestContext, store: Store, hosts: Sequence[str]) -> RequestContext:
    """``ctx`` with the instances ``hosts`` already hold, read in one store
    call, when ``max_instances_per_host`` asks for them (otherwise ``ctx``
    itself: a request without the hint costs no read). Read before this
    request claims anything, so its own instances count in ``placed`` only."""
    if not ctx.spec.hints.max_instances_per_host or not hosts:
        return ctx
    resident = store.count_consumers(hosts, INSTANCE_CONSUMER_TYPE)
    return dataclasses.replace(ctx, resident={host: n for host, n in resident.items() if n})
