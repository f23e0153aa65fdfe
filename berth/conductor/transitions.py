"""The changes made to a build record, as pure functions.

Each returns a ``Change`` (records.py): given the build as read now, the
changed build, or None when the change no longer applies because someone
changed the instance meanwhile (deleted it, reported on it, or another
conductor did the step). Whatever a conductor did in the store for a
change that did not apply is undone or adopted by the steps that follow
(docs/conductor.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from berth.conductor.model import (
    Alternate,
    Attempt,
    Build,
    BuildInstance,
    FailureKind,
    InstanceState,
    Outcome,
)
from berth.conductor.records import Change
from berth.scheduler.selection import InstanceSelections


@dataclasses.dataclass(frozen=True, slots=True)
class RefusedAlternate:
    """An alternate whose claim the store refused (the host filled up)."""

    alternate: Alternate
    reason: str


def _replace(build: Build, instance: BuildInstance, now: float, **fields) -> Build:
    changed = build.with_instance(dataclasses.replace(instance, **fields))
    return dataclasses.replace(changed, updated_at=now)


def scheduled(placements: Sequence[InstanceSelections], now: float, deadline: float | None) -> Change:
    """Instances still SCHEDULING start building on their chosen hosts,
    each first attempt to be reported by ``deadline``."""

    def change(build: Build) -> Build | None:
        changed = build
        for placement in placements:
            instance = changed.instance(placement.consumer_uuid)
            if instance is None or instance.state is not InstanceState.SCHEDULING:
                continue
            chosen = placement.chosen
            changed = _replace(
                changed, instance, now,
                state=InstanceState.BUILDING, host=chosen.provider_uuid, cell=chosen.cell,
                claimed=chosen.allocation_request,
                alternates=tuple(
                    Alternate(a.provider_uuid, a.cell, a.allocation_request) for a in placement.alternates
                ),
                attempts=(Attempt(1, chosen.provider_uuid, Outcome.BUILDING, started_at=now, deadline=deadline),),
            )
        return None if changed is build else changed

    return change


def unschedulable(uuids: Sequence[str], fault: str, now: float) -> Change:
    """No valid host: the instances still SCHEDULING are in ERROR. The
    scheduler claimed nothing for them (all or none), and the conductor
    freed whatever they held before asking, so they hold nothing."""

    def change(build: Build) -> Build | None:
        changed = build
        for uuid in uuids:
            instance = changed.instance(uuid)
            if instance is None or instance.state is not InstanceState.SCHEDULING:
                continue
            changed = _replace(changed, instance, now, state=InstanceState.ERROR, fault=fault, released=True)
        return None if changed is build else changed

    return change


def _failed_attempts(first: int, refused: Sequence[RefusedAlternate], now: float) -> tuple[Attempt, ...]:
    return tuple(
        Attempt(first + n, r.alternate.host, Outcome.FAILED, started_at=now,
                reason=f"claim refused: {r.reason}", finished_at=now)
        for n, r in enumerate(refused)
    )


def _waiting_on(build: Build, uuid: str, failed_attempt: int) -> BuildInstance | None:
    instance = build.instance(uuid)
    if instance is None or not instance.awaits_retry or instance.current_attempt.number != failed_attempt:
        return None
    return instance


def retried(
    uuid: str, failed_attempt: int, refused: Sequence[RefusedAlternate],
    chosen: Alternate, remaining: Sequence[Alternate], now: float, deadline: float | None,
) -> Change:
    """The instance whose attempt failed builds again on ``chosen`` (its
    allocation request claimed already); the alternates tried before it
    are listed as failed attempts."""

    def change(build: Build) -> Build | None:
        instance = _waiting_on(build, uuid, failed_attempt)
        if instance is None:
            return None
        skipped = _failed_attempts(failed_attempt + 1, refused, now)
        attempt = Attempt(
            failed_attempt + 1 + len(skipped), chosen.host, Outcome.BUILDING, started_at=now, deadline=deadline,
        )
        return _replace(
            build, instance, now,
            host=chosen.host, cell=chosen.cell, claimed=chosen.allocation_request,
            alternates=tuple(remaining), attempts=(*instance.attempts, *skipped, attempt),
        )

    return change


def exhausted(uuid: str, failed_attempt: int, refused: Sequence[RefusedAlternate], now: float) -> Change:
    """No alternate left: the instance is in ERROR, with every attempt's
    reason in its fault. The conductor freed its allocations first."""

    def change(build: Build) -> Build | None:
        instance = _waiting_on(build, uuid, failed_attempt)
        if instance is None:
            return None
        attempts = (*instance.attempts, *_failed_attempts(failed_attempt + 1, refused, now))
        return _replace(
            build, instance, now,
            state=InstanceState.ERROR, host=None, claimed=None, alternates=(), attempts=attempts,
            fault=fault_of(attempts), released=True,
        )

    return change


def fault_of(attempts: Sequence[Attempt]) -> str:
    """Every attempt and why it failed, in one sentence per attempt."""
    lines = [
        f"attempt {a.number} on {a.host}: {a.reason or 'no reason given'}"
        + (f" ({a.failure_kind.value})" if a.failure_kind else "")
        for a in attempts
    ]
    return f"Build failed on every host tried ({len(attempts)} attempts): " + "; ".join(lines) + "."


def timed_out(uuid: str, attempt: int, now: float) -> Change:
    """The attempt was not reported by its deadline: it failed (its agent
    died or lost its way), and the instance waits for a retry. A report
    that arrives later is refused as no longer current."""

    def change(build: Build) -> Build | None:
        instance = build.instance(uuid)
        if instance is None or not instance.overdue(now) or instance.current_attempt.number != attempt:
            return None
        current = instance.current_attempt
        failed = dataclasses.replace(
            current, outcome=Outcome.FAILED, finished_at=now,
            reason=f"no report from {current.host} within {current.deadline - current.started_at:g} s",
        )
        return _replace(build, instance, now, attempts=(*instance.attempts[:-1], failed))

    return change


def released(uuid: str, now: float) -> Change:
    """The instance (ERROR or DELETED) is checked to hold no allocations."""

    def change(build: Build) -> Build | None:
        instance = build.instance(uuid)
        if instance is None or not instance.awaits_release:
            return None
        return _replace(build, instance, now, released=True)

    return change


# -- from the API ---------------------------------------------------------------------


class AttemptNotFound(Exception):
    """No such instance or attempt in the build."""


class AttemptNotCurrent(Exception):
    """A report for an attempt that is over (reported otherwise, or the
    instance moved on, was deleted)."""


def reported(
    uuid: str, number: int, outcome: Outcome, reason: str | None, kind: FailureKind | None, now: float,
) -> Change:
    """An agent's report on an attempt. The same report again changes
    nothing (None); another report on a finished attempt, or one on an
    attempt that is not the instance's current one, raises
    AttemptNotCurrent."""

    def change(build: Build) -> Build | None:
        instance = build.instance(uuid)
        if instance is None or not 1 <= number <= len(instance.attempts):
            raise AttemptNotFound(f"No attempt {number} of instance {uuid} in build {build.id}.")
        attempt = instance.attempts[number - 1]
        if attempt.outcome is not Outcome.BUILDING:
            if attempt.outcome is outcome:
                return None
            raise AttemptNotCurrent(
                f"Attempt {number} of instance {uuid} is over: it {attempt.outcome.value}"
                + (f" ({attempt.reason})." if attempt.reason else ".")
            )
        if instance.state is not InstanceState.BUILDING or number != instance.current_attempt.number:
            raise AttemptNotCurrent(f"Attempt {number} is not the current attempt of instance {uuid}.")
        finished = dataclasses.replace(
            attempt, outcome=outcome, reason=reason, failure_kind=kind, finished_at=now,
        )
        attempts = (*instance.attempts[:-1], finished)
        state = InstanceState.ACTIVE if outcome is Outcome.SUCCEEDED else InstanceState.BUILDING
        return _replace(build, instance, now, attempts=attempts, state=state)

    return change


def deleted(uuid: str, now: float) -> Change:
    """The instance is DELETED; an attempt still building is over. Its
    allocations are freed by the caller and checked by a conductor."""

    def change(build: Build) -> Build | None:
        instance = build.instance(uuid)
        if instance is None:
            raise AttemptNotFound(f"No instance {uuid} in build {build.id}.")
        if instance.state is InstanceState.DELETED:
            return None
        attempts = instance.attempts
        if attempts and attempts[-1].outcome is Outcome.BUILDING:
            attempts = (*attempts[:-1], dataclasses.replace(
                attempts[-1], outcome=Outcome.FAILED, reason="instance deleted", finished_at=now,
            ))
        return _replace(
            build, instance, now,
            state=InstanceState.DELETED, attempts=attempts, alternates=(), released=False,
        )

    return change
