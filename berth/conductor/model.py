"""Builds as the store keeps them: a build, its instances, their attempts
and alternates, the conductor's lease and an instance's migration.

A build is one record, written whole with compare-and-set on ``version``
(``Store.save_build``), so any conductor process, or the API answering an
agent, can change it without a lock held across processes. These objects
only describe; the transitions are in ``transitions.py``.

Times are seconds since the epoch.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping

from berth.conductor.reports import FailureKind
from berth.placement import errors
from berth.placement.candidates.result import AllocationRequest
from berth.scheduler.spec import RequestSpec


class InstanceState(enum.Enum):
    SCHEDULING = "SCHEDULING"
    BUILDING = "BUILDING"
    ACTIVE = "ACTIVE"
    ERROR = "ERROR"
    DELETED = "DELETED"


class Outcome(enum.Enum):
    BUILDING = "building"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class MigrationState(enum.Enum):
    # Asked for; the conductor finds a destination and moves the claims.
    REQUESTED = "requested"
    # The instance holds the destination, the migration the source.
    MIGRATED = "migrated"
    # Confirm or revert asked for, not yet written in the allocations.
    CONFIRMING = "confirming"
    REVERTING = "reverting"
    CONFIRMED = "confirmed"
    REVERTED = "reverted"
    # No destination: nothing moved.
    FAILED = "failed"


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    """One try at building an instance on one host. ``failure_kind`` is
    set when an agent reports a failure with a kind; an alternate whose
    claim the store refused is an attempt that failed without a cast.
    ``deadline``: when a conductor fails an attempt still unreported (its
    agent died or lost its way), so the instance moves on."""

    number: int
    host: str
    outcome: Outcome
    started_at: float
    reason: str | None = None
    failure_kind: FailureKind | None = None
    finished_at: float | None = None
    deadline: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Alternate:
    """A host the instance may be retried on, with its own (unclaimed)
    allocation request, as the scheduler chose it."""

    host: str
    cell: str | None
    allocation_request: AllocationRequest


@dataclasses.dataclass(frozen=True, slots=True)
class Migration:
    """A move of an ACTIVE instance. While it runs, the migration's own
    uuid is the consumer of the source allocations and the instance holds
    the destination's."""

    uuid: str
    state: MigrationState
    source_host: str
    requested_at: float
    destination_host: str | None = None
    reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class BuildInstance:
    """One instance of a build; its uuid is its consumer in the store.

    ``claimed`` is the allocation request of the host it is building on
    (what the agent is told to use); ``alternates`` are the hosts not yet
    tried, best first. ``released`` says a conductor has checked that an
    instance in ERROR or DELETED holds no allocations.
    """

    uuid: str
    state: InstanceState
    host: str | None = None
    cell: str | None = None
    claimed: AllocationRequest | None = None
    alternates: tuple[Alternate, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    fault: str | None = None
    released: bool = False
    migration: Migration | None = None

    @property
    def current_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def awaits_retry(self) -> bool:
        """Building, and the agent reported the current attempt failed."""
        current = self.current_attempt
        return (
            self.state is InstanceState.BUILDING
            and current is not None
            and current.outcome is Outcome.FAILED
        )

    def overdue(self, now: float) -> bool:
        """Building, and the current attempt's deadline passed unreported."""
        current = self.current_attempt
        return (
            self.state is InstanceState.BUILDING and current is not None
            and current.outcome is Outcome.BUILDING
            and current.deadline is not None and current.deadline <= now
        )

    @property
    def awaits_release(self) -> bool:
        return self.state in (InstanceState.ERROR, InstanceState.DELETED) and not self.released

    @property
    def migration_pending(self) -> bool:
        """A migration step waits, for an instance still ACTIVE (a deleted
        one is released instead, its migration's allocations with it)."""
        return self.state is InstanceState.ACTIVE and self.migration is not None and self.migration.state in (
            MigrationState.REQUESTED, MigrationState.CONFIRMING, MigrationState.REVERTING,
        )

    @property
    def needs_conductor(self) -> bool:
        return (
            self.state is InstanceState.SCHEDULING
            or self.awaits_retry
            or self.awaits_release
            or self.migration_pending
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Lease:
    """A conductor's claim on a build's work, until ``expires_at``."""

    owner: str
    expires_at: float

    def held_by_other(self, owner: str, now: float) -> bool:
        return self.owner != owner and self.expires_at > now


@dataclasses.dataclass(frozen=True, slots=True)
class Build:
    """A request to build ``len(instances)`` instances of one spec.

    ``version`` is the record's compare-and-set guard: the store bumps it
    on every save and refuses a save that names an older one.
    """

    id: str
    request_spec: RequestSpec
    num_alternates: int
    instances: tuple[BuildInstance, ...]
    created_at: float
    updated_at: float
    version: int = 0
    lease: Lease | None = None

    def instance(self, uuid: str) -> BuildInstance | None:
        return next((i for i in self.instances if i.uuid == uuid), None)

    def with_instance(self, changed: BuildInstance) -> Build:
        return dataclasses.replace(
            self, instances=tuple(changed if i.uuid == changed.uuid else i for i in self.instances)
        )

    @property
    def needs_conductor(self) -> bool:
        """Some instance waits for a conductor (to be scheduled, retried,
        released or migrated); the store lists such builds as work."""
        return any(i.needs_conductor for i in self.instances)

    @property
    def next_deadline(self) -> float | None:
        """The earliest deadline of an attempt still building; the store
        lists the build as work again from then on."""
        deadlines = [
            i.current_attempt.deadline for i in self.instances
            if i.state is InstanceState.BUILDING and i.current_attempt is not None
            and i.current_attempt.outcome is Outcome.BUILDING and i.current_attempt.deadline is not None
        ]
        return min(deadlines) if deadlines else None

    def needs_conductor_at(self, now: float) -> bool:
        """Waits for a conductor, or an attempt's deadline has passed."""
        deadline = self.next_deadline
        return self.needs_conductor or (deadline is not None and deadline <= now)

    @property
    def state(self) -> str:
        """The build as a whole: SCHEDULING or BUILDING while any instance
        is, then DELETED when all are, ERROR when any failed, else ACTIVE."""
        states = {i.state for i in self.instances}
        if states == {InstanceState.SCHEDULING}:
            return InstanceState.SCHEDULING.value
        if states & {InstanceState.SCHEDULING, InstanceState.BUILDING}:
            return InstanceState.BUILDING.value
        if states == {InstanceState.DELETED}:
            return InstanceState.DELETED.value
        if InstanceState.ERROR in states:
            return InstanceState.ERROR.value
        return InstanceState.ACTIVE.value

    def assignments_on(self, host: str) -> tuple[Assignment, ...]:
        """Attempts an agent on ``host`` is to run now."""
        found = []
        for instance in self.instances:
            current = instance.current_attempt
            if (
                instance.state is InstanceState.BUILDING and current is not None
                and current.outcome is Outcome.BUILDING and current.host == host
                and instance.claimed is not None
            ):
                found.append(Assignment(self.id, instance.uuid, current.number, instance.claimed.allocations))
        return tuple(found)

    @property
    def building_hosts(self) -> frozenset[str]:
        return frozenset(
            i.current_attempt.host for i in self.instances
            if i.state is InstanceState.BUILDING and i.current_attempt is not None
            and i.current_attempt.outcome is Outcome.BUILDING
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Assignment:
    """What an agent is told to build: one attempt of one instance, with
    the allocations claimed for it."""

    build_id: str
    instance_uuid: str
    attempt: int
    allocations: Mapping[str, Mapping[str, int]]


class BuildNotFound(errors.NotFound):
    def __init__(self, build_id: str) -> None:
        self.build_id = build_id
        super().__init__(f"No build {build_id}.")


class BuildExists(errors.Conflict):
    def __init__(self, build_id: str) -> None:
        self.build_id = build_id
        super().__init__(f"Build {build_id} exists already.")
