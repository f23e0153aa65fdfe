"""Alternates kept under an id, so that a retry claims one by its id rather
than by carrying the whole allocation request around (seed 03's
suggestion), and the recent build failures the build-failure weigher reads.

Both live in the memory of the scheduler's process: an id is claimable on
the process that issued it, until it expires (docs/scheduler.md says why
that is enough for now and what a shared book would need).
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
import uuid as uuidlib
from collections.abc import Callable

from berth.placement.candidates.result import AllocationRequest


@dataclasses.dataclass(frozen=True, slots=True)
class HeldAlternate:
    """What an alternate's id stands for."""

    alternate_id: str
    consumer_uuid: str
    project_id: str
    user_id: str
    consumer_type: str
    provider_uuid: str
    cell: str | None
    allocation_request: AllocationRequest
    expires_at: float


class AlternateBook:
    """Alternates by id, each claimable once, until it expires."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.clock = clock
        self._held: dict[str, HeldAlternate] = {}
        self._lock = threading.Lock()

    def keep(self, **fields) -> HeldAlternate:
        held = HeldAlternate(alternate_id=str(uuidlib.uuid4()), expires_at=self.clock() + self.ttl, **fields)
        with self._lock:
            self._expire()
            self._held[held.alternate_id] = held
        return held

    def take(self, alternate_id: str) -> HeldAlternate | None:
        """The alternate, removed from the book; None if unknown or expired."""
        with self._lock:
            self._expire()
            held = self._held.pop(alternate_id, None)
        # An entry put back can sit behind newer ones that _expire stops at.
        if held is None or held.expires_at <= self.clock():
            return None
        return held

    def put_back(self, held: HeldAlternate) -> None:
        """A claim by id failed for a reason the caller may retry."""
        with self._lock:
            if held.expires_at > self.clock():
                self._held[held.alternate_id] = held

    def _expire(self) -> None:
        now = self.clock()
        # Entries are inserted in time order with one TTL: the oldest first.
        while self._held:
            oldest = next(iter(self._held.values()))
            if oldest.expires_at > now:
                break
            del self._held[oldest.alternate_id]

    def __len__(self) -> int:
        return len(self._held)


class BuildFailures:
    """Recent build failures per host, forgotten after ``window`` seconds."""

    def __init__(self, window: float, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self.clock = clock
        self._events: collections.deque[tuple[float, str]] = collections.deque()
        self._lock = threading.Lock()

    def record(self, host: str) -> None:
        with self._lock:
            self._events.append((self.clock(), host))

    def counts(self) -> dict[str, int]:
        with self._lock:
            horizon = self.clock() - self.window
            while self._events and self._events[0][0] <= horizon:
                self._events.popleft()
            return dict(collections.Counter(host for _, host in self._events))
