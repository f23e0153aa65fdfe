"""The object the API and the scheduler ask for allocation candidates.

One finder per process. It keeps the read-side index (index.py) and brings
it up to date from the store's change feed before every search, so that a
search sees every write committed before it started; see docs/candidates.md
for what is answered by the index and how stale it can be.
"""

from __future__ import annotations

import threading

from berth.placement.candidates.request import CandidateRequest
from berth.placement.candidates.result import CandidateResult
from berth.store.port import Store


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
        self._lock = threading.Lock()

    def find(self, request: CandidateRequest) -> CandidateResult:
        raise NotImplementedError("the candidate search is being written")
