"""The answer: allocation requests and summaries of the providers in them.

msgspec structs rather than frozen dataclasses: a search builds several of
them per host it returns, and a struct is built in a fifth of the time
(a frozen dataclass sets each field through object.__setattr__).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec


class AllocationRequest(msgspec.Struct, frozen=True):
    """One way to satisfy the whole request: amounts per provider and class
    (the body of a claim), and which providers served which group."""

    allocations: Mapping[str, Mapping[str, int]]
    mappings: Mapping[str, tuple[str, ...]]

    @property
    def key(self) -> tuple:
        """Identity of the candidate: its allocations and its mappings."""
        return (
            frozenset((rp, rc, amount) for rp, res in self.allocations.items() for rc, amount in res.items()),
            frozenset((suffix, frozenset(rps)) for suffix, rps in self.mappings.items()),
        )


# Summaries are kept between searches (CandidateIndex.summary): gc=False
# keeps the thousands kept out of the garbage collector's count and walks.
# They hold no reference back to anything, so they are never in a cycle.
class ResourceSummary(msgspec.Struct, frozen=True, gc=False):
    capacity: int
    used: int


class ProviderSummary(msgspec.Struct, frozen=True, gc=False):
    uuid: str
    root_provider_uuid: str
    parent_provider_uuid: str | None
    resources: Mapping[str, ResourceSummary]
    traits: frozenset[str]


class CandidateResult(msgspec.Struct, frozen=True):
    allocation_requests: tuple[AllocationRequest, ...]
    provider_summaries: tuple[ProviderSummary, ...]

    @classmethod
    def empty(cls) -> CandidateResult:
        return cls((), ())
