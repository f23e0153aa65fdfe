"""The scheduling pipeline, written down in one place.

``Pipeline`` is built once from the [scheduler] settings; ``rank`` turns the
hosts of one search into a ``Ranking`` for one request, which the claim walk
(claims.py) asks for an order of hosts, once per instance.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import msgspec
import numpy as np

from berth.config import SchedulerSettings
from berth.placement.candidates.request import CandidateRequest
from berth.placement.candidates.result import AllocationRequest
from berth.scheduler.context import RequestContext
from berth.scheduler.explanation import (
    CLOSEST_HOSTS,
    FilterMetrics,
    FilterOutcome,
    RejectedHost,
    WeightDetail,
)
from berth.scheduler.filters import FILTERS, PASS, HostFilter
from berth.scheduler.hosts import HostState
from berth.scheduler.spec import RequestSpec
from berth.scheduler.weighers import WEIGHERS, Weigher


class _Scale(msgspec.Struct, frozen=True):
    """The raw weights of the live hosts of one order() (one row per
    weigher), and each weigher's lowest value and span over them (what
    normalisation divides by)."""

    raw: np.ndarray
    low: list[float]
    span: list[float]


class PassReport(msgspec.Struct, frozen=True):
    """A full filter pass, for an explanation."""

    filters: tuple[FilterOutcome, ...]
    closest: tuple[RejectedHost, ...]


class Pipeline:
    """The chain every request goes through, in order."""

    def __init__(self, settings: SchedulerSettings) -> None:
        # 1. Query: the spec's CandidateRequest goes to the candidate index
        #    unchanged; resources, traits, aggregates, granular groups and
        #    trees are answered there, vectorised. It asks for a random
        #    sample of hosts (Nomad scores a few, not all): the cost follows
        #    the sample, not the fleet, and concurrent schedulers start from
        #    different hosts. When the filters leave too few, the sample is
        #    widened (WIDENINGS, in scheduler.py), then every host is asked.
        #    `query` below.
        self.sample = settings.candidate_sample
        # 2. Host filters, in the configured order: the first one to refuse
        #    removes the host and its reason is counted (the explanation).
        self.filters: list[HostFilter] = FILTERS.create(settings.filters)
        # 3. Weighers: one raw number per host each, for the hosts that passed.
        self.weighers: list[Weigher] = WEIGHERS.create(settings.weighers)
        # 4. One normalisation stage: each weigher's raw values scaled to
        #    0..1 over the hosts weighed, times its multiplier, summed.
        self.multipliers: list[float] = [
            float(getattr(settings, f"{w.name}_weight_multiplier", 1.0)) for w in self.weighers
        ]
        # 5. Pick the first host at random among the best host_subset_size
        #    (so that schedulers working at once rarely race for one host);
        #    the rest follow in weight order, for the claim walk (a refused
        #    claim moves on to the next) and for the alternates.
        self.subset = max(1, settings.host_subset_size)

    def query(self, spec: RequestSpec, num_instances: int, num_alternates: int, widen: int) -> CandidateRequest:
        """Link 1: the request sent to the candidate index; ``widen`` times
        the sample, or every host when ``widen`` is 0."""
        if widen == 0 or self.sample <= 0:
            return dataclasses.replace(spec.request, limit=spec.request.limit, randomize=False)
        wanted = max(self.sample, num_instances + num_alternates + self.subset) * widen
        if spec.request.limit is not None:
            wanted = min(wanted, spec.request.limit)
        return dataclasses.replace(spec.request, limit=wanted, randomize=True)

    def rank(self, hosts: Sequence[HostState], ctx: RequestContext) -> Ranking:
        """Links 2 to 5 for one request's hosts."""
        return Ranking(self, list(hosts), ctx)


class Ranking:
    """The hosts of one request: which pass the filters, their raw weights,
    and which were discarded by a refused claim. After each placement only
    the hosts it touched are judged again, plus the request-scoped filters
    on every host."""

    def __init__(self, pipeline: Pipeline, hosts: list[HostState], ctx: RequestContext) -> None:
        self.pipeline = pipeline
        self.hosts = hosts
        self.ctx = ctx
        count = len(hosts)
        self.passing = np.zeros(count, dtype=bool)
        self.discarded = np.zeros(count, dtype=bool)
        # One row per weigher: the reductions of order() run along rows.
        self.raw = np.zeros((len(pipeline.weighers), count), dtype=np.float64)
        # Index of the filter that refused each host (-1: none).
        self.refused_by = np.full(count, -1, dtype=np.int64)
        self._scoped = [i for i, f in enumerate(pipeline.filters) if f.request_scoped]
        self._changing = [i for i, f in enumerate(pipeline.filters) if f.changes_with_placements]
        # Hosts by the providers their allocation requests use. Only a
        # provider several hosts can use (a sharing provider) needs it: a
        # placement on one changes the others too. Made on the first
        # placement that uses one (never, on a flat fleet).
        self._hosts_sharing: dict[str, list[int]] | None = None
        # The normalisation of the last order() (None once a host is discarded).
        self._last: _Scale | None = None
        # Hosts a placement changed the answer for, judged again when the
        # ranking is next read (never, after a request's last instance);
        # and whether every host must be asked the request-scoped filters.
        self._unjudged: set[int] = set()
        self._scoped_stale = False
        self._live_positions: np.ndarray | None = None
        self.metrics = FilterMetrics([f.name for f in pipeline.filters])
        self._judge(list(range(count)), self.metrics)

    # -- filtering and weighing ------------------------------------------------

    def _judge(
        self, positions: list[int], metrics: FilterMetrics | None = None, numbers: list[int] | None = None,
    ) -> None:
        """Every filter (or those ``numbers``), in order, on the hosts at
        ``positions`` still in the pass; then every weigher on those that
        passed them all."""
        if metrics is not None:
            metrics.judged(len(positions))
        remaining, judged = positions, [self.hosts[p] for p in positions]
        for number in range(len(self.pipeline.filters)) if numbers is None else numbers:
            remaining, judged = self._filter(number, remaining, judged, metrics)
            if not remaining:
                return
        ctx, weighers = self.ctx, self.pipeline.weighers
        if len(remaining) == 1:
            # After a placement usually one host is judged again: scalars
            # cost a fraction of numpy's fancy indexing.
            position = remaining[0]
            self._set_passing(position, True)
            self.refused_by[position] = -1
            if weighers:
                self.raw[:, position] = [w.weigh(judged, ctx)[0] for w in weighers]
            return
        self.passing[remaining] = True
        self._live_positions = None
        self.refused_by[remaining] = -1
        if weighers:
            rows = np.array([w.weigh(judged, ctx) for w in weighers], dtype=np.float64)
            if len(remaining) == len(self.hosts):
                self.raw[:] = rows  # the first pass, every host through
            else:
                self.raw[:, remaining] = rows

    def _filter(
        self, number: int, positions: list[int], hosts: list[HostState], metrics: FilterMetrics | None = None,
    ) -> tuple[list[int], list[HostState]]:
        """Filter ``number`` on ``hosts`` (at ``positions``): the positions
        and hosts it lets through. Those it refuses leave the pass."""
        host_filter = self.pipeline.filters[number]
        statuses = host_filter.check(hosts, self.ctx)
        if statuses.count(PASS) == len(statuses):
            return positions, hosts  # the usual case: the filter's hint is not in use
        kept, kept_hosts = [], []
        for position, host, status in zip(positions, hosts, statuses):
            if status.fits:
                kept.append(position)
                kept_hosts.append(host)
                continue
            if metrics is not None:
                metrics.removed_by(host_filter.name, status.reason)
            self._set_passing(position, False)
            self.refused_by[position] = number
        return kept, kept_hosts

    def _judge_refused_again(self, positions: list[int], numbers: list[int]) -> list[int]:
        """Hosts whose answers to the filters ``numbers`` may have changed:
        a host one of them refused is judged again in full (the filters
        after it were never asked); a host another filter refused stays
        refused. Returns the hosts in the pass, for the caller to ask
        those filters again."""
        refused = self.refused_by[positions].tolist()
        again = [p for p, number in zip(positions, refused) if number in numbers]
        if again:
            self._judge(again)
        return [p for p, number in zip(positions, refused) if number < 0]

    def _rejudge_scoped(self, positions: list[int]) -> None:
        """Request-scoped filters only: hosts another placement may have
        changed the answer for. A host in the pass is asked them only."""
        remaining = self._judge_refused_again(positions, self._scoped)
        hosts = [self.hosts[p] for p in remaining]
        for number in self._scoped:
            if not remaining:
                return
            remaining, hosts = self._filter(number, remaining, hosts)

    def place(self, position: int, allocation: AllocationRequest) -> None:
        """An instance went to ``hosts[position]`` with ``allocation``. The
        hosts it touched are judged again before the ranking is next read
        (``_settle``), not here: after a request's last instance nobody
        reads it."""
        host = self.hosts[position]
        host.ledger.consume(allocation)
        before = self.ctx.group_hosts
        self.ctx = self.ctx.placed_on(host.uuid)
        self._unjudged.add(position)
        for provider in allocation.allocations:
            if provider not in host.tree or provider in host.ledger.sharing:
                self._unjudged.update(self._sharing_hosts().get(provider, ()))
        if self._scoped and self.ctx.group_hosts != before:
            self._scoped_stale = True
        self._last = None

    def _sharing_hosts(self) -> dict[str, list[int]]:
        if self._hosts_sharing is None:
            self._hosts_sharing = {}
            for position, host in enumerate(self.hosts):
                for provider in {p for ar in host.allocation_requests for p in ar.allocations}:
                    self._hosts_sharing.setdefault(provider, []).append(position)
        return self._hosts_sharing

    def _settle(self) -> None:
        """Judge again what the placements since the last read changed."""
        if not self._unjudged:
            return
        touched, self._unjudged = self._unjudged, set()
        # A host in the pass has passed every filter: only those a
        # placement can change are asked again, then every weigher.
        passing = self._judge_refused_again(sorted(touched), self._changing)
        if passing:
            self._judge(passing, numbers=self._changing)
        if self._scoped_stale:
            self._scoped_stale = False
            self._rejudge_scoped([other for other in range(len(self.hosts)) if other not in touched])

    def discard(self, position: int) -> None:
        """A claim on the host was refused: it is out for this request."""
        self.discarded[position] = True
        self._live_positions = None
        self._last = None

    # -- ordering ----------------------------------------------------------------

    def _set_passing(self, position: int, passing: bool) -> None:
        if self.passing[position] != passing:
            self.passing[position] = passing
            self._live_positions = None

    def _live(self) -> np.ndarray:
        # Kept between orders: most placements change no host's verdict.
        if self._live_positions is None:
            self._live_positions = np.flatnonzero(self.passing & ~self.discarded)
        return self._live_positions

    def _scale(self, live: np.ndarray) -> _Scale:
        """Each weigher's lowest raw value and span over the live hosts."""
        raw = self.raw.take(live, axis=1)
        low = np.minimum.reduce(raw, axis=1)
        span = np.maximum.reduce(raw, axis=1) - low
        return _Scale(raw, low.tolist(), span.tolist())

    def order(self, rng: random.Random) -> list[int]:
        """Positions of the live hosts: a random one of the best
        ``subset``, then the others by weight."""
        self._settle()
        live = self._live()
        if len(live) == 0:
            return []
        scale = self._last = self._scale(live)
        # The normalised sum, folded: each weigher's (raw - low) / span
        # times its multiplier is raw times multiplier / span, less the
        # same for low; a weigher that spans nothing adds 0 to every host.
        # A handful of weighers: plain floats cost less than numpy calls.
        factors = [
            multiplier / span if span > 0 else 0.0
            for multiplier, span in zip(self.pipeline.multipliers, scale.span)
        ]
        weights = np.array(factors) @ scale.raw
        weights -= sum(factor * low for factor, low in zip(factors, scale.low))
        ranked = live[np.argsort(-weights, kind="stable")].tolist()
        first = rng.randrange(min(self.pipeline.subset, len(ranked)))
        return [ranked[first]] + ranked[:first] + ranked[first + 1:]

    def weights(self, position: int) -> tuple[WeightDetail, ...]:
        """How ``hosts[position]``'s weight was made, among the live hosts."""
        self._settle()
        live_now = self.passing[position] and not self.discarded[position]
        scale = self._last
        if scale is None or not live_now:
            live = self._live()
            if not live_now:
                live = np.append(live, position)
            scale = self._scale(live)
        raw = self.raw[:, position].tolist()
        low, span = scale.low, scale.span
        multipliers = self.pipeline.multipliers
        return tuple(
            WeightDetail(
                w.name, raw[i], (raw[i] - low[i]) / span[i] if span[i] > 0 else 0.0, multipliers[i],
            )
            for i, w in enumerate(self.pipeline.weighers)
        )

    # -- explaining ----------------------------------------------------------------

    def outcomes(self) -> tuple[FilterOutcome, ...]:
        return self.metrics.outcomes()

    def failing_pass(self) -> PassReport:
        """A fresh pass over every host in the current context, for an
        explanation: what each filter removes now, and the hosts refused
        for the fewest reasons (every filter asked, not only the first)."""
        metrics = FilterMetrics([f.name for f in self.pipeline.filters])
        metrics.judged(len(self.hosts))
        verdicts = [host_filter.check(self.hosts, self.ctx) for host_filter in self.pipeline.filters]
        rejected = []
        for position, host in enumerate(self.hosts):
            reasons = []
            for host_filter, statuses in zip(self.pipeline.filters, verdicts):
                status = statuses[position]
                if not status.fits:
                    if not reasons:
                        metrics.removed_by(host_filter.name, status.reason)
                    reasons.append(f"{host_filter.name}: {status.reason}")
            if self.discarded[position]:
                reasons.append("claim refused by the store")
            if reasons:
                rejected.append(RejectedHost(host.uuid, host.cell, tuple(reasons)))
        rejected.sort(key=lambda r: len(r.reasons))
        return PassReport(metrics.outcomes(), tuple(rejected[:CLOSEST_HOSTS]))
