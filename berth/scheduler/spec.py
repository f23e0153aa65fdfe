"""The request spec: what to place, and the hints that constrain where.

The resource side is the allocation-candidates request model
(``CandidateRequest``: resources, required/forbidden/any-of traits,
aggregates, granular groups, tree constraints), kept whole so that nothing
is translated twice. The scheduling side is berth's: cell, availability
zone, server group, same/different host, and who the instances belong to.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid as uuidlib
from collections.abc import Mapping

from berth.placement.candidates.request import CandidateRequest, RequestGroup
from berth.placement.query import AggregateRequirement, TraitRequirement

# Zones are aggregates: a host is in zone Z when its root provider is a
# member of the aggregate ``zone_aggregate(Z)`` (set with Placement's own
# PUT /resource_providers/{uuid}/aggregates). See docs/scheduler.md.
_ZONE_NAMESPACE = uuidlib.UUID("5b0f5a1e-2a43-4a4b-9c57-6f1f3c0b7a11")

# The consumer type berth's scheduler writes (Placement 1.38's types).
INSTANCE_CONSUMER_TYPE = "INSTANCE"


def zone_aggregate(zone: str) -> str:
    """The aggregate uuid that stands for availability zone ``zone``."""
    return str(uuidlib.uuid5(_ZONE_NAMESPACE, zone))


class GroupPolicy(enum.Enum):
    """A server group's policy (Nova's names)."""

    AFFINITY = "affinity"
    ANTI_AFFINITY = "anti-affinity"
    SOFT_AFFINITY = "soft-affinity"
    SOFT_ANTI_AFFINITY = "soft-anti-affinity"


@dataclasses.dataclass(frozen=True, slots=True)
class ServerGroup:
    """A server group: its policy and the instances already in it.

    ``max_server_per_host`` is Nova's anti-affinity rule: how many members
    one host may hold (1 by default). The scheduler finds the members'
    hosts from their allocations in the store.
    """

    uuid: str
    policy: GroupPolicy
    members: tuple[str, ...] = ()
    max_server_per_host: int = 1


@dataclasses.dataclass(frozen=True, slots=True)
class SchedulingHints:
    """Where the instances may go besides what their resources need.

    ``same_host`` / ``different_host`` name instances whose hosts the new
    ones must (or must not) share; ``max_instances_per_host`` caps how many
    instances of this request may land on one host (0: no cap).
    """

    cell: str | None = None
    availability_zone: str | None = None
    server_group: ServerGroup | None = None
    same_host: tuple[str, ...] = ()
    different_host: tuple[str, ...] = ()
    max_instances_per_host: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class RequestSpec:
    """One scheduling request. ``instance_uuids`` name the consumers the
    claims are written for, one per instance (generated when too few)."""

    request: CandidateRequest
    project_id: str
    user_id: str
    instance_uuids: tuple[str, ...] = ()
    hints: SchedulingHints = SchedulingHints()
    consumer_type: str = INSTANCE_CONSUMER_TYPE

    @classmethod
    def simple(
        cls,
        resources: Mapping[str, int],
        *,
        project_id: str = "project",
        user_id: str = "user",
        required: tuple[str, ...] = (),
        forbidden: tuple[str, ...] = (),
        member_of: tuple[str, ...] = (),
        instance_uuids: tuple[str, ...] = (),
        hints: SchedulingHints = SchedulingHints(),
    ) -> RequestSpec:
        """A spec of one unsuffixed group (the common flavor request)."""
        group = RequestGroup(
            "",
            dict(resources),
            TraitRequirement(tuple(frozenset([t]) for t in required), frozenset(forbidden)),
            AggregateRequirement((frozenset(member_of),) if member_of else ()),
        )
        return cls(CandidateRequest((group,)), project_id, user_id, tuple(instance_uuids), hints)

    def consumers(self, count: int) -> tuple[str, ...]:
        """The consumer uuid of each of ``count`` instances."""
        given = self.instance_uuids[:count]
        return given + tuple(str(uuidlib.uuid4()) for _ in range(count - len(given)))
