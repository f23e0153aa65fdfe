"""The object the API and the scheduler ask for allocation candidates.

One finder per process. It keeps the read-side index (index.py) and brings
it up to date from the store's change feed before every search, so that a
search sees every write committed before it started; see docs/candidates.md
for what is answered by the index and how stale it can be.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import threading
from collections.abc import Iterable, Iterator

from berth.placement.candidates.index import CandidateIndex
from berth.placement.candidates.request import CandidateRequest
from berth.placement.candidates.result import CandidateResult
from berth.placement.candidates.search import search
from berth.store.port import Store


@dataclasses.dataclass(frozen=True, slots=True)
class UnknownNames:
    classes: frozenset[str]
    traits: frozenset[str]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """A search allocates many small objects without cycles; the garbage
    collections they would trigger walk every object of the index (hundreds
    of thousands at 100,000 providers) and cost more than the search."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class CandidateFinder:
    """``find(request)`` answers GET /allocation_candidates without HTTP.

    ``randomize`` shuffles the candidates before ``limit`` applies
    (Placement's ``randomize_allocation_candidates``); ``max_candidates``
    (0: no cap) stops the search once that many have been found
    (Placement's ``max_allocation_candidates``).
    """

    def __init__(self, store: Store, *, randomize: bool = False, max_candidates: int = 0) -> None:
        self.store = store
        self.randomize = randomize
        self.max_candidates = max_candidates
        self.index = CandidateIndex()
        self._cursor: str | None = None
        # One search or refresh at a time: both read and write the index's
        # columns in place.
        self._lock = threading.Lock()

    def find(self, request: CandidateRequest) -> CandidateResult:
        with self._lock, collector_paused():
            self._refresh()
            return search(
                self.index, request, randomize=self.randomize, max_candidates=self.max_candidates
            )

    def unknown_names(self, classes: Iterable[str], traits: Iterable[str]) -> UnknownNames:
        """The classes and traits that no provider in the index has, as of
        the last refresh: only those need asking the store whether they
        exist at all (a class with inventory, a trait a provider holds,
        exists)."""
        with self._lock:
            index = self.index
            return UnknownNames(
                classes=frozenset(
                    name for name in classes
                    if name not in index.resources or not index.resources[name].present.any()
                ),
                traits=frozenset(
                    name for name in traits
                    if name not in index.trait_columns or not index.trait_columns[name].any()
                ),
            )

    def refresh(self) -> None:
        """Bring the index up to date with the store now (it also happens
        before every search); a service calls it once at start-up so that
        the first request does not pay for the complete read."""
        with self._lock:
            self._refresh()

    def _refresh(self) -> None:
        changes = self.store.read_provider_changes(self._cursor)
        if changes.complete:
            self.index.replace_all(changes.providers)
        elif changes.providers or changes.removed:
            self.index.apply(changes.providers, changes.removed)
        self.index.apply_usages(changes.usages)
        self._cursor = changes.cursor
