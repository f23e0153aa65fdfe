"""Typed queries over providers: traits, aggregates, resources, trees.

``GET /resource_providers`` and the allocation-candidates request both filter
providers by the same kinds of requirement; they are written down once here,
independent of HTTP and of the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True, slots=True)
class TraitRequirement:
    """Which traits a provider must have and must not have.

    Every set in ``any_of`` must meet the provider's traits in at least one
    trait: a plain required trait ``T`` is the set ``{T}``, and microversion
    1.39's ``in:A,B`` is ``{A, B}``. ``forbidden`` traits must all be absent.
    """

    any_of: tuple[frozenset[str], ...] = ()
    forbidden: frozenset[str] = frozenset()

    @property
    def is_empty(self) -> bool:
        return not self.any_of and not self.forbidden

    @property
    def names(self) -> frozenset[str]:
        """Every trait the requirement mentions."""
        return frozenset().union(*self.any_of, self.forbidden)

    def is_met_by(self, traits: frozenset[str] | set[str]) -> bool:
        return all(group & traits for group in self.any_of) and not (
            self.forbidden & traits
        )


@dataclasses.dataclass(frozen=True, slots=True)
class AggregateRequirement:
    """Which aggregates a provider must and must not be a member of.

    Every set in ``any_of`` (one per ``member_of`` parameter) must meet the
    provider's aggregates; no aggregate in ``forbidden`` may.
    """

    any_of: tuple[frozenset[str], ...] = ()
    forbidden: frozenset[str] = frozenset()

    @property
    def is_empty(self) -> bool:
        return not self.any_of and not self.forbidden

    def is_met_by(self, aggregates: frozenset[str] | set[str]) -> bool:
        return all(group & aggregates for group in self.any_of) and not (
            self.forbidden & aggregates
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderQuery:
    """The filters of ``GET /resource_providers``; empty fields match all."""

    name: str | None = None
    uuid: str | None = None
    in_tree: str | None = None
    resources: Mapping[str, int] = dataclasses.field(default_factory=dict)
    traits: TraitRequirement = TraitRequirement()
    aggregates: AggregateRequirement = AggregateRequirement()
