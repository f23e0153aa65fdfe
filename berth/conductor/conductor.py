"""The conductor: the loop ``berth conductor`` runs over the store.

Each pass takes the builds that wait for a conductor (the store's queue),
takes the lease of each one nobody else holds, and does what its
instances wait for, in this order:

1. release: an instance in ERROR or DELETED must hold nothing; free it
   and say so;
   deadlines: an attempt no agent reported by its deadline failed;
2. retry: an instance whose attempt failed moves to its next alternate
   (one compare-and-set that gives the failed host's allocation back and
   takes the alternate's; a refused claim moves on to the next), or, with
   none left, is freed and in ERROR with every attempt's reason;
3. schedule: instances in SCHEDULING go through
   ``Scheduler.select_destinations`` with their uuids as consumers; the
   chosen host and the alternates' allocation requests are recorded;
4. migrations (migrations.py).

Every step does its work in the store first and records it in the build
second; a conductor killed between the two leaves work that the next pass
(its own after a restart, or another conductor's once the lease expires)
finds done and adopts, or undoes (docs/conductor.md).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid as uuidlib
from collections.abc import Callable

from berth.conductor import lease, migrations, transitions
from berth.conductor.allocations import free, move_to
from berth.conductor.model import Build, BuildInstance, InstanceState
from berth.conductor.records import Change, update
from berth.placement import errors
from berth.scheduler import NoValidHost, Scheduler
from berth.scheduler.claims import CLAIM_REFUSALS
from berth.scheduler.selection import ConsumerExists

LOG = logging.getLogger("berth.conductor")


@dataclasses.dataclass(frozen=True)
class ConductorSettings:
    # Seconds a conductor holds a build's lease; a dead conductor's builds
    # wait this long for another one. Far above one step's duration.
    lease_ttl: float = 30.0
    # Builds taken from the queue per pass.
    batch: int = 50
    # Seconds to sleep after a pass that found nothing to do.
    idle_sleep: float = 0.1
    # Seconds an agent has to report an attempt; then the attempt failed
    # and the instance moves to its next alternate (0: wait for ever).
    attempt_timeout: float = 600.0


class Conductor:
    def __init__(
        self,
        scheduler: Scheduler,
        settings: ConductorSettings = ConductorSettings(),
        *,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.scheduler = scheduler
        self.store = scheduler.store
        self.settings = settings
        self.owner = owner or f"conductor-{uuidlib.uuid4()}"
        self.clock = clock

    # -- the loop ------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                worked = self.run_once()
            except errors.StoreUnavailable as exc:
                LOG.warning("store unavailable, retrying: %s", exc)
                worked = 0
            except Exception:
                # A pass that failed for another reason (a database locked
                # for longer than its timeout, a bug on one build's data)
                # must not end the process: every step is safe to repeat.
                LOG.exception("a conductor pass failed; the next one starts over")
                worked = 0
            if not worked:
                stop.wait(self.settings.idle_sleep)

    def run_once(self) -> int:
        """One pass over the queue; how many builds it changed. A build
        whose work keeps failing is not counted, so that the loop sleeps
        between passes instead of spinning on it."""
        changed = 0
        for build in self.store.list_build_work(self.settings.batch, self.clock()):
            held = lease.take(self.store, build, self.owner, self.settings.lease_ttl, self.clock())
            if held is None:
                continue
            try:
                self.work_on(held)
                changed += self.store.get_build(build.id).version > held.version
            except Exception:
                LOG.exception("working on build %s", build.id)
            finally:
                lease.give_back(self.store, build.id, self.owner)
        return changed

    def work_on(self, build: Build) -> None:
        now = self.clock()
        for instance in build.instances:
            if instance.awaits_release:
                self._release(build.id, instance)
        for instance in build.instances:
            if instance.overdue(now):
                self.record(build.id, transitions.timed_out(instance.uuid, instance.current_attempt.number, now))
        for instance in self.store.get_build(build.id).instances:
            if instance.awaits_retry:
                self._retry(build.id, instance.uuid)
        if any(i.state is InstanceState.SCHEDULING for i in build.instances):
            self._schedule(build.id)
        for instance in build.instances:
            if instance.migration_pending:
                migrations.advance(self, build.id, instance.uuid)

    # -- steps ---------------------------------------------------------------------

    def fresh(self, build_id: str) -> Build | None:
        """The build as stored now, if this conductor still holds its lease."""
        build = self.store.get_build(build_id)
        return build if lease.holds(build, self.owner, self.clock()) else None

    def record(self, build_id: str, change: Change) -> Build | None:
        return update(self.store, build_id, change)

    def _deadline(self) -> float | None:
        timeout = self.settings.attempt_timeout
        return self.clock() + timeout if timeout > 0 else None

    def _release(self, build_id: str, instance: BuildInstance) -> None:
        free(self.store, instance.uuid)
        if instance.migration is not None:
            free(self.store, instance.migration.uuid)
        self.record(build_id, transitions.released(instance.uuid, self.clock()))

    def _retry(self, build_id: str, uuid: str) -> None:
        build = self.fresh(build_id)
        instance = build.instance(uuid) if build else None
        if instance is None or not instance.awaits_retry:
            return
        failed = instance.current_attempt
        self.scheduler.record_build_failure(failed.host)
        refused: list[transitions.RefusedAlternate] = []
        remaining = list(instance.alternates)
        while remaining:
            alternate = remaining.pop(0)
            try:
                move_to(self.store, build.request_spec, uuid, alternate)
            except CLAIM_REFUSALS as exc:
                refused.append(transitions.RefusedAlternate(alternate, str(exc)))
                continue
            change = transitions.retried(
                uuid, failed.number, refused, alternate, remaining, self.clock(), self._deadline(),
            )
            self.record(build_id, change)
            return
        free(self.store, uuid)
        self.record(build_id, transitions.exhausted(uuid, failed.number, refused, self.clock()))

    def _schedule(self, build_id: str) -> None:
        build = self.fresh(build_id)
        if build is None:
            return
        pending = tuple(i.uuid for i in build.instances if i.state is InstanceState.SCHEDULING)
        if not pending:
            return
        # A conductor that died after the scheduler's claim and before
        # recording it left the claim behind: freed, not adopted, because
        # the alternates that came with it were never recorded, and a new
        # decision costs one claim.
        for uuid in pending:
            free(self.store, uuid)
        spec = dataclasses.replace(build.request_spec, instance_uuids=pending)
        try:
            result = self.scheduler.select_destinations(spec, len(pending), build.num_alternates)
        except NoValidHost as failure:
            self.record(build_id, transitions.unschedulable(pending, failure.explanation.describe(), self.clock()))
            return
        except ConsumerExists:
            # Another conductor claimed for one of them meanwhile (its lease
            # expired under it); the next pass sorts it out.
            return
        self.record(build_id, transitions.scheduled(result.instances, self.clock(), self._deadline()))
