"""``Scheduler``: select_destinations and claiming an alternate by its id.

The order of work for one request: resolve the hints against the store
(context.py), search (the pipeline's query link), rank (filters, weighers,
normalisation), walk and claim (claims.py), sign the alternates' ids
(alternates.py), and explain.
"""

from __future__ import annotations

import dataclasses
import random
import secrets
import time
from collections.abc import Callable, Sequence

import msgspec

from berth.config import SchedulerSettings
from berth.placement.candidates.finder import collector_paused
from berth.placement.candidates.result import AllocationRequest
from berth.placement.model import ConsumerClaim, ProviderAllocation
from berth.scheduler.alternates import AlternateIds, BuildFailures, InvalidAlternateId
from berth.scheduler.claims import (
    CLAIM_REFUSALS,
    DeferredClaimer,
    Placement,
    StoreClaimer,
    WalkOutcome,
    walk,
)
from berth.scheduler.context import RequestContext, resolve, with_resident_instances
from berth.scheduler.explanation import ChosenWeights, Explanation
from berth.scheduler.finder import CandidateView, PlacementHints, SchedulerFinder
from berth.scheduler.hosts import build_hosts
from berth.scheduler.pipeline import Pipeline, Ranking
from berth.scheduler.selection import (
    AlternateNotFound,
    AlternateUnavailable,
    ClaimStats,
    ConsumerExists,
    InstanceSelections,
    NoValidHost,
    SchedulingResult,
    Selection,
)
from berth.scheduler.spec import RequestSpec, zone_aggregate
from berth.store.port import Store


# How much of the fleet each attempt samples: the configured sample, eight
# times it, then every host (0). A wider search costs little next to a
# complete one at 10,000 hosts, and a narrow hint (one cell of many) often
# needs only that.
WIDENINGS = (1, 8, 0)


class _Attempt(msgspec.Struct, frozen=True):
    """One search, its ranking and the walk over it."""

    view: CandidateView
    ranking: Ranking
    outcome: WalkOutcome


@dataclasses.dataclass
class _Tally:
    conflicts: int = 0
    requeries: int = 0
    batch_fallbacks: int = 0

    def frozen(self) -> ClaimStats:
        return ClaimStats(self.conflicts, self.requeries, self.batch_fallbacks)


class Scheduler:
    """One per process; safe to call from several threads.

    Alternate ids are signed with ``settings.alternate_secret``: any
    process with the same secret and store can claim them. Without one
    (a scheduler outside ``berth serve``, a test) the process makes up its
    own, and only it can claim the ids it issued.
    """

    def __init__(
        self,
        store: Store,
        settings: SchedulerSettings,
        *,
        finder: SchedulerFinder | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.finder = finder or SchedulerFinder(store, settings.index_max_staleness_ms / 1000)
        self.pipeline = Pipeline(settings)
        secret = settings.alternate_secret.encode() if settings.alternate_secret else secrets.token_bytes(32)
        self.alternate_ids = AlternateIds(secret, settings.selection_ttl, clock)
        self.failures = BuildFailures(settings.build_failure_window, clock)
        self.rng = rng or random.Random()

    # -- select_destinations ------------------------------------------------------

    def select_destinations(
        self, spec: RequestSpec, num_instances: int = 1, num_alternates: int = 0
    ) -> SchedulingResult:
        """Claim a host for each of ``num_instances`` instances and add up to
        ``num_alternates`` unclaimed alternates from the same cell to each.
        All instances are placed or none (NoValidHost, which explains).
        Raises ConsumerExists when an instance already holds allocations."""
        if num_instances < 1 or num_alternates < 0:
            raise ValueError("num_instances must be at least 1 and num_alternates at least 0")
        # A request makes thousands of short-lived objects and no cycles
        # worth collecting; the young-generation collections they would set
        # off cost a fifth of a single placement (docs/scheduler.md).
        with collector_paused():
            return self._select(spec, num_instances, num_alternates)

    def _select(self, spec: RequestSpec, num_instances: int, num_alternates: int) -> SchedulingResult:
        consumers = spec.consumers(num_instances)
        if len(set(consumers)) != len(consumers):
            raise ValueError("instance_uuids must not repeat")
        ctx = resolve(spec, self.store, self.failures.counts())
        tally = _Tally()
        attempt = self._attempt(spec, ctx, consumers, num_alternates, WIDENINGS[0], tally)
        for widen in WIDENINGS[1:]:
            if attempt.outcome.complete or not attempt.view.truncated:
                break
            # The sample was not enough (filters removed most of it, or the
            # request needs many hosts): a wider one, then every host.
            tally.requeries += 1
            attempt = self._attempt(spec, ctx, consumers, num_alternates, widen, tally)
        if not attempt.outcome.complete:
            raise NoValidHost(self._failure(spec, attempt, num_instances), tally.frozen())
        return self._result(spec, attempt, tally)

    def _search(self, spec: RequestSpec, ctx: RequestContext, count: int, alternates: int, widen: int) -> tuple[CandidateView, Ranking]:
        view = self.finder.view(self.pipeline.query(spec, count, alternates, widen), _placement_hints(spec))
        hosts = build_hosts(view.result, view.attributes)
        ctx = with_resident_instances(ctx, self.store, [host.uuid for host in hosts])
        return view, self.pipeline.rank(hosts, ctx)

    def _attempt(
        self, spec: RequestSpec, ctx: RequestContext, consumers: tuple[str, ...],
        num_alternates: int, widen: int, tally: _Tally,
    ) -> _Attempt:
        view, ranking = self._search(spec, ctx, len(consumers), num_alternates, widen)
        if len(consumers) > 1:
            # Plan every instance against the local ledger, then write all
            # claims in one all-or-nothing transaction: one store round
            # trip instead of one per instance.
            deferred = DeferredClaimer(spec)
            planned = walk(ranking, deferred, consumers, num_alternates, self.rng)
            if not planned.complete:
                return _Attempt(view, ranking, planned)
            try:
                self.store.write_allocations(deferred.claims)
            except CLAIM_REFUSALS:
                # Another scheduler took part of the plan meanwhile: place
                # one by one on a fresh search, claim-and-discard.
                tally.batch_fallbacks += 1
                tally.conflicts += 1
                self.finder.invalidate()
                view, ranking = self._search(spec, ctx, len(consumers), num_alternates, widen)
            else:
                self.finder.claimed(view, (p.allocation for p in planned.placements))
                return _Attempt(view, ranking, planned)
        claimer = StoreClaimer(self.store, spec)
        try:
            outcome = walk(ranking, claimer, consumers, num_alternates, self.rng)
        except ConsumerExists:
            claimer.rollback()
            raise
        tally.conflicts += outcome.conflicts
        if outcome.complete:
            self.finder.claimed(view, (p.allocation for p in outcome.placements))
        else:
            claimer.rollback()
        if outcome.conflicts:
            self.finder.invalidate()
        return _Attempt(view, ranking, outcome)

    def _result(self, spec: RequestSpec, attempt: _Attempt, tally: _Tally) -> SchedulingResult:
        instances = tuple(self._selections(spec, p) for p in attempt.outcome.placements)
        explanation = Explanation(
            candidates=len(attempt.ranking.hosts),
            hosts=attempt.view.fleet_hosts,
            filters=attempt.ranking.outcomes(),
            chosen=tuple(
                ChosenWeights(p.consumer_uuid, p.host.uuid, sum(w.weighted for w in p.weights), p.weights)
                for p in attempt.outcome.placements
            ),
        )
        return SchedulingResult(instances, explanation, tally.frozen())

    def _selections(self, spec: RequestSpec, placement: Placement) -> InstanceSelections:
        chosen = Selection(
            placement.consumer_uuid, placement.host.uuid, placement.host.cell,
            placement.allocation, claimed=True,
        )
        alternates = []
        for alternate in placement.alternates:
            alternate_id, held = self.alternate_ids.issue(
                consumer_uuid=placement.consumer_uuid, project_id=spec.project_id,
                user_id=spec.user_id, consumer_type=spec.consumer_type,
                provider_uuid=alternate.host.uuid, cell=alternate.host.cell,
                allocation_request=alternate.allocation,
            )
            alternates.append(Selection(
                placement.consumer_uuid, alternate.host.uuid, alternate.host.cell,
                alternate.allocation, claimed=False,
                alternate_id=alternate_id, expires_at=held.expires_at,
            ))
        return InstanceSelections(placement.consumer_uuid, (chosen, *alternates))

    def _failure(self, spec: RequestSpec, attempt: _Attempt, num_instances: int) -> Explanation:
        unplaced = num_instances - len(attempt.outcome.placements)
        if not attempt.ranking.hosts:
            diagnosis = self.finder.diagnose(spec.request, _placement_hints(spec))
            return Explanation(
                candidates=0, hosts=attempt.view.fleet_hosts,
                query=diagnosis.requirements, closest=diagnosis.closest, unplaced=unplaced,
            )
        report = attempt.ranking.failing_pass()
        return Explanation(
            candidates=len(attempt.ranking.hosts), hosts=attempt.view.fleet_hosts,
            filters=report.filters, closest=report.closest, unplaced=unplaced,
        )

    # -- retries on alternates --------------------------------------------------

    def claim_alternate(self, alternate_id: str) -> Selection:
        """Move the instance to the alternate with this id: its allocations
        are replaced by the alternate's in one compare-and-set on the
        consumer generation. The host it held (where the build failed) is
        recorded for the build-failure weigher.

        The id is read, not looked up (alternates.py), so it stays
        claimable until it expires. Claiming it again while the instance
        holds exactly the alternate's allocations writes nothing and
        answers the same Selection (a retry after a lost answer); claiming
        it after the instance moved elsewhere moves it back, under the same
        compare-and-set. Raises AlternateNotFound (malformed, not signed
        under this deployment's secret, expired), AlternateUnavailable."""
        try:
            held = self.alternate_ids.read(alternate_id)
        except InvalidAlternateId as exc:
            raise AlternateNotFound(str(exc)) from None
        claimed = Selection(
            held.consumer_uuid, held.provider_uuid, held.cell, held.allocation_request, claimed=True,
        )
        current = self.store.get_consumer_allocations(held.consumer_uuid)
        if _holds_exactly(current.allocations, held.allocation_request):
            return claimed
        claim = ConsumerClaim(
            consumer_uuid=held.consumer_uuid, project_id=held.project_id, user_id=held.user_id,
            allocations=held.allocation_request.allocations,
            expected_generation=current.consumer.generation if current.consumer else None,
            consumer_type=held.consumer_type,
        )
        try:
            self.store.write_allocations([claim])
        except CLAIM_REFUSALS as exc:
            raise AlternateUnavailable(str(exc)) from exc
        for host in {a.provider.root_provider_uuid for a in current.allocations}:
            if host != held.provider_uuid:
                self.failures.record(host)
        return claimed

    def record_build_failure(self, host: str) -> None:
        """A build failed on ``host`` (the build-failure weigher ranks it down)."""
        self.failures.record(host)


def _holds_exactly(held: Sequence[ProviderAllocation], request: AllocationRequest) -> bool:
    """Whether a consumer's allocations are exactly the request's."""
    return bool(held) and {a.provider.uuid: dict(a.resources) for a in held} == {
        rp: dict(resources) for rp, resources in request.allocations.items()
    }


def _placement_hints(spec: RequestSpec) -> PlacementHints:
    zone = spec.hints.availability_zone
    return PlacementHints(spec.hints.cell, zone, zone_aggregate(zone) if zone is not None else None)
