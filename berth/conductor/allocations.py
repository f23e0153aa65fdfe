"""What the conductor does to an instance's allocations, each step
idempotent: done twice, or after a crash half-way, it leaves the same
state as done once."""

from __future__ import annotations

from berth.conductor.model import Alternate
from berth.placement import errors
from berth.placement.model import ConsumerAllocations, ConsumerClaim
from berth.scheduler.spec import RequestSpec
from berth.store.port import Store

# A consumer generation that moves under a step (a delete, another
# conductor) is read again this many times before the step gives up.
GENERATION_RACES = 5


def holdings(current: ConsumerAllocations) -> dict[str, dict[str, int]]:
    return {a.provider.uuid: dict(a.resources) for a in current.allocations}


def generation(current: ConsumerAllocations) -> int | None:
    return current.consumer.generation if current.consumer is not None else None


def free(store: Store, consumer_uuid: str) -> None:
    """Remove everything ``consumer_uuid`` holds (nothing held: done)."""
    for _ in range(GENERATION_RACES):
        current = store.get_consumer_allocations(consumer_uuid)
        if not current.allocations:
            return
        claim = ConsumerClaim(
            consumer_uuid, current.consumer.project_id, current.consumer.user_id, {},
            expected_generation=generation(current),
        )
        try:
            store.write_allocations([claim])
            return
        except errors.ConcurrentUpdate:
            continue
    raise errors.ConcurrentUpdate()


def move_to(store: Store, spec: RequestSpec, consumer_uuid: str, alternate: Alternate) -> None:
    """Replace what the instance holds (the failed host's claim) by the
    alternate's allocation request, in one compare-and-set on the consumer
    generation. Holding it already (a conductor did this and died before
    recording it) is success. Raises what the store raises when the
    alternate's host cannot take it (CapacityExceeded and the other
    InvalidAllocation errors, NotFound for a provider gone)."""
    wanted = {rp: dict(res) for rp, res in alternate.allocation_request.allocations.items()}
    for _ in range(GENERATION_RACES):
        current = store.get_consumer_allocations(consumer_uuid)
        if holdings(current) == wanted:
            return
        claim = ConsumerClaim(
            consumer_uuid, spec.project_id, spec.user_id, wanted,
            expected_generation=generation(current), consumer_type=spec.consumer_type,
        )
        try:
            store.write_allocations([claim])
            return
        except errors.ConcurrentUpdate:
            continue
    raise errors.ConcurrentUpdate()
