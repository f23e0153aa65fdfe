"""Claiming in the scheduler (seed 02): walk the weighed hosts, claim the
first one in the store, and on a refused claim discard that host and try
the next. Later instances of a request see the earlier claims (the ranking's
ledger); if one instance cannot be placed, the claims already made are
removed.

Two claimers share the walk: ``StoreClaimer`` writes each claim as it goes
(compare-and-set in the store: a new consumer, capacity checked under the
store's lock); ``DeferredClaimer`` only records, so that a multi-instance
request is written in one all-or-nothing transaction at the end.
"""

from __future__ import annotations

import random
from typing import Protocol

import msgspec

from berth.placement import errors
from berth.placement.candidates.result import AllocationRequest
from berth.placement.model import ConsumerClaim
from berth.scheduler.explanation import WeightDetail
from berth.scheduler.hosts import HostState
from berth.scheduler.pipeline import Ranking
from berth.scheduler.selection import ConsumerExists
from berth.scheduler.spec import RequestSpec
from berth.store.port import Store

# What a store may answer when another writer got to a host first, or the
# host (or a resource class) was deleted since the search.
CLAIM_REFUSALS = (errors.InvalidAllocation, errors.ConcurrentUpdate, errors.NotFound)


class Placement(msgspec.Struct, frozen=True):
    """One instance's outcome of the walk: the host, the allocation that was
    (or will be) claimed, the unclaimed alternates and the chosen host's
    weights."""

    consumer_uuid: str
    host: HostState
    allocation: AllocationRequest
    alternates: tuple[Alternate, ...]
    weights: tuple[WeightDetail, ...]


class Alternate(msgspec.Struct, frozen=True):
    host: HostState
    allocation: AllocationRequest


class WalkOutcome(msgspec.Struct, frozen=True):
    """Placements for the first ``len(placements)`` instances; ``complete``
    is false when the next one found no host."""

    placements: tuple[Placement, ...]
    complete: bool
    conflicts: int


def consumer_claim(spec: RequestSpec, consumer: str, allocation: AllocationRequest) -> ConsumerClaim:
    return ConsumerClaim(
        consumer_uuid=consumer,
        project_id=spec.project_id,
        user_id=spec.user_id,
        allocations=allocation.allocations,
        # None: the consumer must be new, so a retried request never
        # silently replaces an instance's allocations.
        expected_generation=None,
        consumer_type=spec.consumer_type,
    )


class Claimer(Protocol):
    def claim(self, consumer: str, allocation: AllocationRequest) -> bool:
        """True when the claim holds; False when the store refused it."""


class StoreClaimer:
    def __init__(self, store: Store, spec: RequestSpec) -> None:
        self.store = store
        self.spec = spec
        self.claimed: list[str] = []

    def claim(self, consumer: str, allocation: AllocationRequest) -> bool:
        try:
            self.store.write_allocations([consumer_claim(self.spec, consumer, allocation)])
        except errors.ConcurrentUpdate:
            # Either the consumer exists already (no host will ever do: stop
            # here rather than try every host) or a provider moved.
            if self.store.get_consumer_allocations(consumer).consumer is not None:
                raise ConsumerExists(consumer) from None
            return False
        except CLAIM_REFUSALS:
            return False
        self.claimed.append(consumer)
        return True

    def rollback(self) -> None:
        """Remove every claim made so far (idempotent)."""
        for consumer in self.claimed:
            try:
                self.store.delete_consumer_allocations(consumer)
            except errors.NotFound:
                pass
        self.claimed.clear()


class DeferredClaimer:
    """Accepts every claim; the caller writes them all at once."""

    def __init__(self, spec: RequestSpec) -> None:
        self.spec = spec
        self.claims: list[ConsumerClaim] = []

    def claim(self, consumer: str, allocation: AllocationRequest) -> bool:
        self.claims.append(consumer_claim(self.spec, consumer, allocation))
        return True


def _alternates(ranking: Ranking, order: list[int], chosen: int, count: int) -> tuple[Alternate, ...]:
    """Up to ``count`` hosts after the chosen one, in weight order, in the
    chosen host's cell, each with an allocation request that fits now."""
    cell = ranking.hosts[chosen].cell
    found = []
    for position in order:
        if len(found) == count:
            break
        host = ranking.hosts[position]
        if position == chosen or host.cell != cell or ranking.discarded[position]:
            continue
        allocation = host.fitting_request()
        if allocation is not None:
            found.append(Alternate(host, allocation))
    return tuple(found)


class _Claimed(msgspec.Struct, frozen=True):
    """One instance's claim: where (``position`` in the ranking, -1 for
    nowhere), with what, how many claims were refused on the way, and the
    order the walk followed (the alternates come from it)."""

    position: int
    allocation: AllocationRequest | None
    refused: int
    order: list[int]


def _claim_one(ranking: Ranking, claimer: Claimer, consumer: str, rng: random.Random) -> _Claimed:
    order = ranking.order(rng)
    refused = 0
    for position in order:
        allocation = ranking.hosts[position].fitting_request()
        if allocation is not None and claimer.claim(consumer, allocation):
            return _Claimed(position, allocation, refused, order)
        refused += allocation is not None
        ranking.discard(position)
    return _Claimed(-1, None, refused, order)


def walk(
    ranking: Ranking,
    claimer: Claimer,
    consumers: tuple[str, ...],
    num_alternates: int,
    rng: random.Random,
) -> WalkOutcome:
    placements: list[Placement] = []
    conflicts = 0
    for consumer in consumers:
        claimed = _claim_one(ranking, claimer, consumer, rng)
        conflicts += claimed.refused
        if claimed.allocation is None:
            return WalkOutcome(tuple(placements), False, conflicts)
        weights = ranking.weights(claimed.position)
        ranking.place(claimed.position, claimed.allocation)
        alternates = _alternates(ranking, claimed.order, claimed.position, num_alternates)
        placements.append(Placement(
            consumer, ranking.hosts[claimed.position], claimed.allocation, alternates, weights,
        ))
    return WalkOutcome(tuple(placements), True, conflicts)
