"""The allocation-candidates request, independent of HTTP.

A request is a set of request groups plus rules that apply to the whole
request. The unsuffixed group may be satisfied by several providers of one
tree and by sharing providers; a suffixed (granular) group by exactly one
provider. This is Placement's model from microversion 1.25 on; older
requests are the special case of one unsuffixed group.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping

from berth.placement.query import AggregateRequirement, TraitRequirement


class GroupPolicy(enum.Enum):
    """How granular groups may share a provider."""

    NONE = "none"
    ISOLATE = "isolate"


@dataclasses.dataclass(frozen=True, slots=True)
class RequestGroup:
    """What one group needs: resources, traits, aggregates, a tree.

    ``suffix`` is ``""`` for the unsuffixed group. A granular group without
    resources (microversion 1.36) names one provider that must exist with
    the group's traits and aggregates, for ``same_subtree``.
    """

    suffix: str = ""
    resources: Mapping[str, int] = dataclasses.field(default_factory=dict)
    traits: TraitRequirement = TraitRequirement()
    aggregates: AggregateRequirement = AggregateRequirement()
    in_tree: str | None = None

    @property
    def single_provider(self) -> bool:
        return bool(self.suffix)


@dataclasses.dataclass(frozen=True, slots=True)
class CandidateRequest:
    """The whole request.

    ``root_traits`` constrains the root of every candidate's tree
    (``root_required``, 1.35). Each set in ``same_subtrees`` names groups
    whose providers must all sit under one of them (``same_subtree``, 1.36).
    ``nested_aware`` is false before microversion 1.29: a candidate may then
    take from only one provider per tree. ``limit`` caps the number of
    candidates; ``randomize`` picks them at random instead of in the index's
    order.
    """

    groups: tuple[RequestGroup, ...]
    group_policy: GroupPolicy = GroupPolicy.NONE
    limit: int | None = None
    root_traits: TraitRequirement = TraitRequirement()
    same_subtrees: tuple[frozenset[str], ...] = ()
    nested_aware: bool = True
    randomize: bool = False

    @property
    def resource_classes(self) -> frozenset[str]:
        """Every class any group asks for."""
        return frozenset(rc for group in self.groups for rc in group.resources)

    @property
    def trait_names(self) -> frozenset[str]:
        """Every trait the request mentions, for validation."""
        return frozenset().union(
            self.root_traits.names, *(group.traits.names for group in self.groups)
        )
