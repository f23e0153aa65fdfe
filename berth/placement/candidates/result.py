"""The answer: allocation requests and summaries of the providers in them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True, slots=True)
class AllocationRequest:
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


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceSummary:
    capacity: int
    used: int


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderSummary:
    uuid: str
    root_provider_uuid: str
    parent_provider_uuid: str | None
    resources: Mapping[str, ResourceSummary]
    traits: frozenset[str]


@dataclasses.dataclass(frozen=True, slots=True)
class CandidateResult:
    allocation_requests: tuple[AllocationRequest, ...]
    provider_summaries: tuple[ProviderSummary, ...]

    @classmethod
    def empty(cls) -> CandidateResult:
        return cls((), ())
