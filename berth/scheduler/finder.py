"""The scheduler's own candidate finder: the allocation-candidates finder
over a HostIndex, so that a search and the cells of the hosts it found are
read under one lock from one refresh of the change feed.

The API serves GET /allocation_candidates from the same finder its
scheduler uses (one index per process); a process without the API (a
conductor, bench/schedule.py's workers) makes its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import msgspec
import numpy as np

from berth.placement.candidates.finder import CandidateFinder, collector_paused
from berth.placement.candidates.index import CandidateIndex
from berth.placement.candidates.request import CandidateRequest, RequestGroup
from berth.placement.candidates.result import AllocationRequest, CandidateResult
from berth.placement.candidates.search import search
from berth.scheduler.explanation import CLOSEST_HOSTS, RejectedHost, RequirementCount
from berth.scheduler.hosts import HostAttributes, HostIndex
from berth.store.port import Store


class CandidateView(msgspec.Struct, frozen=True):
    """One search: its result, the attributes of the hosts in it, how many
    hosts the fleet has, whether ``limit`` cut the answer short, and the
    change-feed cursor the index was at."""

    result: CandidateResult
    attributes: Mapping[str, HostAttributes]
    fleet_hosts: int
    truncated: bool
    cursor: str | None = None


class PlacementHints(msgspec.Struct, frozen=True):
    """The hints the index can answer for the search: a cell, and the
    aggregate that stands for an availability zone."""

    cell: str | None = None
    # The zone's name (for explanations) and the aggregate standing for it.
    zone: str | None = None
    zone_aggregate: str | None = None


class Diagnosis(msgspec.Struct, frozen=True):
    """Why a query found nothing: per-requirement host counts and the hosts
    that miss the fewest requirements."""

    requirements: tuple[RequirementCount, ...]
    closest: tuple[RejectedHost, ...]


class SchedulerFinder(CandidateFinder):
    """``max_staleness`` (seconds; 0 by default) lets a search skip reading
    the change feed when the index was refreshed that recently: the index
    may then miss claims made since, which costs refused claims (each one
    forces the next search to refresh, ``invalidate``), never an
    over-commit, because every claim is checked by the store."""

    def __init__(
        self, store: Store, max_staleness: float = 0.0, *, randomize: bool = False, max_candidates: int = 0,
    ) -> None:
        super().__init__(store, randomize=randomize, max_candidates=max_candidates)
        self.index: HostIndex = HostIndex()
        self.max_staleness = max_staleness
        self._refreshed_at: float | None = None

    def invalidate(self) -> None:
        """The next search reads the change feed whatever max_staleness says."""
        self._refreshed_at = None

    def _refresh_if_stale(self) -> None:
        now = time.monotonic()
        if (
            self.max_staleness <= 0
            or self._refreshed_at is None
            or now - self._refreshed_at >= self.max_staleness
        ):
            self._refresh()
            self._refreshed_at = now

    def view(self, request: CandidateRequest, placement: PlacementHints = PlacementHints()) -> CandidateView:
        with self._lock, collector_paused():
            self._refresh_if_stale()
            result = search(
                self.index, request, max_candidates=self.max_candidates,
                anchors_within=self._anchors_within(placement),
            )
            roots = {s.root_provider_uuid for s in result.provider_summaries}
            attributes = {root: self.index.attributes(root) for root in roots}
            fleet = self.index.live_root_count
            truncated = request.limit is not None and len(result.allocation_requests) >= request.limit
            return CandidateView(result, attributes, fleet, truncated, self._cursor)

    def claimed(self, view: CandidateView, allocations: Iterable[AllocationRequest]) -> None:
        """Add this process's own claims, made from ``view``, to the index,
        so that a search that skips the change feed (``max_staleness``)
        does not offer their room again. Only while the index is still
        where ``view`` found it: a refresh since then has read them (or
        will), and adding them again would count them twice. The next read
        of the feed replaces these figures with the store's."""
        if self.max_staleness <= 0:
            return  # the next search reads the feed anyway
        with self._lock:
            if self._cursor != view.cursor or self._refreshed_at is None:
                return
            for allocation in allocations:
                self.index.add_usages(allocation.allocations)

    def _anchors_within(self, placement: PlacementHints) -> np.ndarray | None:
        """The hosts a cell or zone hint allows, as a mask for the search
        (the cell and zone filters still check every host it returns)."""
        mask = None
        if placement.cell is not None:
            mask = self.index.in_cell(placement.cell)
        if placement.zone_aggregate is not None:
            members = self.index.aggregate_column(placement.zone_aggregate)
            mask = members if mask is None else mask & members
        return mask

    def diagnose(self, request: CandidateRequest, placement: PlacementHints = PlacementHints()) -> Diagnosis:
        with self._lock:
            self._refresh_if_stale()
            return _diagnose(self.index, request, placement)


def _group_checks(index: CandidateIndex, group: RequestGroup) -> list[tuple[str, np.ndarray]]:
    """(label, providers meeting it) for each requirement of one group."""
    prefix = f"group {group.suffix}: " if group.suffix else ""
    checks = []
    for rc, amount in group.resources.items():
        column = index.resources.get(rc)
        mask = column.fits(amount) if column is not None else np.zeros(index.size, dtype=bool)
        checks.append((f"{prefix}{rc}:{amount}", mask))
    for any_of in group.traits.any_of:
        checks.append((f"{prefix}trait {'|'.join(sorted(any_of))}", index.any_trait(any_of)))
    for trait in sorted(group.traits.forbidden):
        checks.append((f"{prefix}without trait {trait}", ~index.trait_column(trait)))
    for any_of in group.aggregates.any_of:
        checks.append((f"{prefix}member of {'|'.join(sorted(any_of))}", index.any_aggregate(any_of)))
    for aggregate in sorted(group.aggregates.forbidden):
        checks.append((f"{prefix}not member of {aggregate}", ~index.aggregate_column(aggregate)))
    if group.in_tree is not None:
        slot = index.slot_of.get(group.in_tree)
        mask = np.zeros(index.size, dtype=bool)
        if slot is not None:
            mask = index.root == index.root[slot]
        checks.append((f"{prefix}in tree {group.in_tree}", mask))
    return checks


def _placement_checks(index: HostIndex, placement: PlacementHints, zone: str | None) -> list[tuple[str, np.ndarray]]:
    """(label, hosts meeting it) for the hints the search answered."""
    checks = []
    if placement.cell is not None:
        checks.append((f"in cell {placement.cell}", index.in_cell(placement.cell)))
    if placement.zone_aggregate is not None:
        checks.append((f"in availability zone {zone}", index.aggregate_column(placement.zone_aggregate)))
    return checks


def _diagnose(index: HostIndex, request: CandidateRequest, placement: PlacementHints) -> Diagnosis:
    """Each requirement alone, counted per host (a tree meets it when any
    of its providers does). An approximation of the search's rules (it
    ignores sharing providers and how groups combine) that is enough to
    say which resource or trait is short."""
    alive = index.alive
    hosts = index.live_roots
    checks = [c for group in request.groups for c in _group_checks(index, group)]
    checks += _placement_checks(index, placement, placement.zone)
    unmet = np.zeros(index.size, dtype=np.int64)
    counts, missing_by = [], []
    for label, mask in checks:
        met = index.roots_of(np.flatnonzero(mask & alive))
        counts.append(RequirementCount(label, int(np.count_nonzero(met & hosts))))
        unmet += hosts & ~met
        missing_by.append((label, ~met))
    order = np.flatnonzero(hosts)
    order = order[np.argsort(unmet[order], kind="stable")][:CLOSEST_HOSTS]
    closest = tuple(
        RejectedHost(
            index.uuid(int(slot)),
            index.cells.get(index.uuid(int(slot))),
            tuple(label for label, missing in missing_by if missing[slot]),
        )
        for slot in order
    )
    return Diagnosis(tuple(counts), closest)
