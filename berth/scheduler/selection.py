"""What the scheduler answers: typed selections, never tuples of dicts.

One ``InstanceSelections`` per instance: the claimed host first, then the
alternates (same cell, not claimed), each with its own allocation request
and an id a retry can claim it by (see alternates.py).
"""

from __future__ import annotations


import msgspec

from berth.placement.candidates.result import AllocationRequest
from berth.scheduler.explanation import Explanation


class Selection(msgspec.Struct, frozen=True):
    """One host for one instance: where, in which cell, with what claim.

    ``provider_uuid`` is the host (the root provider of the tree the
    allocation request is anchored at). ``alternate_id`` is set on
    alternates only; ``expires_at`` is when that id stops being claimable
    (seconds since the epoch).
    """

    consumer_uuid: str
    provider_uuid: str
    cell: str | None
    allocation_request: AllocationRequest
    claimed: bool
    alternate_id: str | None = None
    expires_at: float | None = None


class InstanceSelections(msgspec.Struct, frozen=True):
    """The chosen (claimed) host of one instance, then its alternates."""

    consumer_uuid: str
    selections: tuple[Selection, ...]

    @property
    def chosen(self) -> Selection:
        return self.selections[0]

    @property
    def alternates(self) -> tuple[Selection, ...]:
        return self.selections[1:]


class ClaimStats(msgspec.Struct, frozen=True):
    """How hard the claims were: conflicts are claims the store refused
    (another scheduler got there first), requeries are searches repeated
    because the first sample of hosts was not enough."""

    claim_conflicts: int = 0
    requeries: int = 0
    batch_fallbacks: int = 0


class SchedulingResult(msgspec.Struct, frozen=True):
    instances: tuple[InstanceSelections, ...]
    explanation: Explanation
    stats: ClaimStats


class NoValidHost(Exception):
    """No host (or not enough hosts) for the request; the explanation says
    what each filter removed and which hosts came closest."""

    def __init__(self, explanation: Explanation, stats: ClaimStats | None = None) -> None:
        self.explanation = explanation
        self.stats = stats or ClaimStats()
        super().__init__(explanation.summary())


class ConsumerExists(Exception):
    """An instance of the request already holds allocations: the scheduler
    never replaces them (a retry moves an instance with claim_alternate, or
    its allocations are removed first)."""

    def __init__(self, consumer_uuid: str) -> None:
        self.consumer_uuid = consumer_uuid
        super().__init__(f"consumer {consumer_uuid} already holds allocations")


class AlternateNotFound(Exception):
    """No alternate with this id: malformed, not signed under this
    deployment's secret, or expired (the message says which)."""


class AlternateUnavailable(Exception):
    """The alternate's host can no longer hold the instance (another claim
    took the room, or the instance's allocations changed meanwhile): the
    caller moves on to its next alternate."""
