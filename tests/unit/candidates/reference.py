"""A slow, brute-force reference for GET /allocation_candidates.

This module states OpenStack Placement 16.0.0's allocation-candidates
semantics as plainly as possible, so that berth's fast engine
(``berth.placement.candidates``) can be compared with it on random worlds.
It is written for clarity, never for speed: it enumerates every anchor tree,
every assignment of every group's resource classes to every provider, every
combination of group candidates, and then filters.

Each rule carries a comment naming the upstream code it was learnt from
(``placement/objects/allocation_candidate.py`` = AC,
``placement/objects/research_context.py`` = RC,
``placement/objects/rp_candidates.py`` = RPC). Upstream works in two stages,
and so does this module:

1. every request group gets its own candidates, each tied to an *anchor*
   (the root of the tree the candidate serves); then
2. ``AC._merge_candidates`` takes one candidate per group among those of the
   same anchor, checks group_policy, same_subtree and the combined capacity,
   and adds the merged allocation request to a set (so equal requests
   reached through different anchors count once).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence

from berth.placement.candidates.request import CandidateRequest, GroupPolicy, RequestGroup
from berth.placement.candidates.result import AllocationRequest
from berth.placement.model import Inventory, ProviderSnapshot

SHARING_TRAIT = "MISC_SHARES_VIA_AGGREGATE"

# One candidate of one group: (provider uuid, resource class, amount) triples
# and the providers that served the group (Placement's "mappings").
Resources = frozenset[tuple[str, str, int]]


@dataclasses.dataclass(frozen=True)
class GroupCandidate:
    """One way to satisfy one request group, for one anchor tree."""

    anchor: str
    suffix: str
    resources: Resources
    providers: frozenset[str]
    # Upstream's AllocationRequest.use_same_provider: a granular group.
    granular: bool


@dataclasses.dataclass(frozen=True)
class ReferenceResult:
    """What the reference expects: the allocation requests (compare their
    ``.key``) and the uuids that ``provider_summaries`` must list."""

    allocation_requests: tuple[AllocationRequest, ...]
    summary_uuids: frozenset[str]

    @property
    def keys(self) -> frozenset:
        return frozenset(areq.key for areq in self.allocation_requests)


class World:
    """The providers, with the few derived facts the rules need."""

    def __init__(self, providers: Sequence[ProviderSnapshot]) -> None:
        self.by_uuid: dict[str, ProviderSnapshot] = {p.uuid: p for p in providers}
        self.uuids: list[str] = sorted(self.by_uuid)
        self.roots: list[str] = sorted(p.uuid for p in providers if p.parent_provider_uuid is None)
        # RC._has_provider_trees: "nested providers are in use" is a fact about
        # the whole deployment, not about the trees a request touches.
        self.has_trees = any(p.parent_provider_uuid is not None for p in providers)

    def root(self, uuid: str) -> str:
        return self.by_uuid[uuid].root_provider_uuid

    def ancestors_or_self(self, uuid: str) -> set[str]:
        found = {uuid}
        parent = self.by_uuid[uuid].parent_provider_uuid
        while parent is not None:
            found.add(parent)
            parent = self.by_uuid[parent].parent_provider_uuid
        return found

    def is_sharing(self, uuid: str) -> bool:
        # RC.get_sharing_providers: a sharing provider is any provider with
        # the MISC_SHARES_VIA_AGGREGATE trait.
        return SHARING_TRAIT in self.by_uuid[uuid].traits

    def trees_shared_with(self, uuid: str) -> set[str]:
        """RC.anchors_for_sharing_providers: the roots of every tree in
        which *some* provider (the root or any descendant, the sharing
        provider itself included) is in an aggregate of the sharing
        provider."""
        aggregates = self.by_uuid[uuid].aggregates
        return {self.root(other) for other in self.uuids if self.by_uuid[other].aggregates & aggregates}

    def capacity(self, inventory: Inventory) -> int:
        # capacity = (total - reserved) * allocation_ratio. Upstream compares
        # used + amount <= that product in SQL (RC._capacity_check_clause)
        # and, after merging, with int() of it (AC._build_provider_summaries,
        # RC.exceeds_capacity); for an integer left side both agree.
        return int((inventory.total - inventory.reserved) * inventory.allocation_ratio)

    def free(self, uuid: str, resource_class: str) -> int:
        """free = capacity - used."""
        provider = self.by_uuid[uuid]
        return self.capacity(provider.inventories[resource_class]) - provider.usages.get(resource_class, 0)

    def can_allocate(self, uuid: str, resource_class: str, amount: int) -> bool:
        """One group's amount of one class from one provider
        (RC.get_providers_with_resource, RC._capacity_check_clause): the
        provider has inventory of the class, the amount fits in what is free,
        and it respects min_unit <= amount <= max_unit and step_size."""
        inventory = self.by_uuid[uuid].inventories.get(resource_class)
        if inventory is None:
            return False
        return (
            amount <= self.free(uuid, resource_class)
            and inventory.min_unit <= amount <= inventory.max_unit
            and amount % inventory.step_size == 0
        )


# -- stage 1: the candidates of one group -----------------------------------


def _unsuffixed_candidates(world: World, request: CandidateRequest, group: RequestGroup) -> set[GroupCandidate]:
    """The unsuffixed group: its classes may come from several providers of
    the anchor tree and from sharing providers that serve that tree
    (RC.get_trees_matching_all, AC._alloc_candidates_multiple_providers).

    Upstream takes a single-provider shortcut (RC.get_provider_ids_matching)
    when the deployment has neither nested nor sharing providers; every tree
    is then one provider and the rules below give the same answer.
    """
    in_tree_root = _in_tree_root(world, group)
    classes = sorted(group.resources)
    candidates: set[GroupCandidate] = set()
    for anchor in world.roots:
        # in_tree: every provider of the group must be in the tree of the
        # named provider (the tree of any provider, not only of a root); and
        # with in_tree no sharing provider from another tree may help
        # (RC.get_providers_with_resource tree_root_id,
        # RC.get_trees_matching_all "rg_ctx.tree_root_id is None").
        if in_tree_root is not None and anchor != in_tree_root:
            continue
        # root_required: the anchor's root has the root traits
        # (RC._get_roots_with_traits, RPC.filter_by_tree on the anchor).
        if not _anchor_allowed(world, request, anchor):
            continue
        # Brute force: every assignment of every class to every provider.
        for assignment in itertools.product(world.uuids, repeat=len(classes)):
            picks = list(zip(classes, assignment))
            if not all(
                _unsuffixed_provider_allowed(world, group, anchor, in_tree_root, rc, uuid) for rc, uuid in picks
            ):
                continue
            providers = frozenset(assignment)
            if not _unsuffixed_traits_met(world, group, providers):
                continue
            resources = frozenset((uuid, rc, group.resources[rc]) for rc, uuid in picks)
            candidates.add(GroupCandidate(anchor, "", resources, providers, granular=False))
    return candidates


def _unsuffixed_provider_allowed(
    world: World, group: RequestGroup, anchor: str, in_tree_root: str | None, rc: str, uuid: str
) -> bool:
    """May ``uuid`` give the unsuffixed group's ``rc`` to ``anchor``'s tree?"""
    if not world.can_allocate(uuid, rc, group.resources[rc]):
        return False
    member_of = MemberOf(group)
    in_anchor_tree = world.root(uuid) == anchor
    # A sharing provider serves every tree that shares one of its aggregates
    # (RC.anchors_for_sharing_providers) -- unless in_tree is given. For the
    # unsuffixed group a sharing provider serving another tree must itself
    # meet member_of (RC.RequestGroupSearchContext.get_rps_with_shared_capacity
    # intersects the sharing providers with rps_in_aggs).
    serves_as_sharing = (
        world.is_sharing(uuid)
        and in_tree_root is None
        and anchor in world.trees_shared_with(uuid)
        and (not member_of.any_of or member_of.met_by(world, uuid))
    )
    if not (in_anchor_tree or serves_as_sharing):
        return False
    # member_of of the unsuffixed group: the provider itself *or the root of
    # the anchor tree* meets every member_of (an aggregate on the root spans
    # the tree) -- RPC.filter_by_rp_or_tree with the anchor as the root.
    # Forbidden aggregates: neither the provider nor the anchor's root is in
    # one (RPC.filter_by_rp_nor_tree).
    if member_of.any_of and not (member_of.met_by(world, uuid) or member_of.met_by(world, anchor)):
        return False
    if member_of.forbidden_hit(world, uuid) or member_of.forbidden_hit(world, anchor):
        return False
    return True


class MemberOf:
    """The two halves of a group's member_of, checked separately because
    upstream applies them to different providers."""

    def __init__(self, group: RequestGroup) -> None:
        self.any_of = group.aggregates.any_of
        self.forbidden = group.aggregates.forbidden

    def met_by(self, world: World, uuid: str) -> bool:
        # RC.provider_ids_matching_aggregates: one provider is in at least one
        # aggregate of every member_of parameter.
        aggregates = world.by_uuid[uuid].aggregates
        return all(choice & aggregates for choice in self.any_of)

    def forbidden_hit(self, world: World, uuid: str) -> bool:
        return bool(self.forbidden & world.by_uuid[uuid].aggregates)


def _unsuffixed_traits_met(world: World, group: RequestGroup, providers: Iterable[str]) -> bool:
    """Traits of the unsuffixed group (AC._check_traits_for_alloc_request):
    no provider *in the allocation request* may have a forbidden trait, and
    the union of the traits of the providers in the allocation request must
    meet every required (any-of) set. Only providers that give resources
    count: the root's traits count only when the root is one of them (the
    tree-level filter RC._get_trees_with_traits is a weaker pre-filter)."""
    providers = list(providers)
    if any(group.traits.forbidden & world.by_uuid[uuid].traits for uuid in providers):
        return False
    union = frozenset().union(*(world.by_uuid[uuid].traits for uuid in providers))
    return all(choice & union for choice in group.traits.any_of)


def _granular_candidates(world: World, request: CandidateRequest, group: RequestGroup) -> set[GroupCandidate]:
    """A suffixed group: one provider gives all of its resources
    (RC.get_provider_ids_matching, AC._alloc_candidates_single_provider)."""
    candidates: set[GroupCandidate] = set()
    for uuid in world.uuids:
        if not _granular_provider_allowed(world, group, uuid):
            continue
        resources = frozenset((uuid, rc, amount) for rc, amount in group.resources.items())
        for anchor in _granular_anchors(world, request, uuid):
            candidates.add(GroupCandidate(anchor, group.suffix, resources, frozenset({uuid}), granular=True))
    return candidates


def _granular_provider_allowed(world: World, group: RequestGroup, uuid: str) -> bool:
    provider = world.by_uuid[uuid]
    # Traits and member_of of a granular group are checked on the provider
    # itself only, never on its root (RC.get_provider_ids_for_traits_and_aggs).
    if not group.traits.is_met_by(provider.traits):
        return False
    if not group.aggregates.is_met_by(provider.aggregates):
        return False
    if group.resources:
        # in_tree: the provider's root is the root of the named provider.
        in_tree_root = _in_tree_root(world, group)
        if in_tree_root is not None and world.root(uuid) != in_tree_root:
            return False
        return all(world.can_allocate(uuid, rc, amount) for rc, amount in group.resources.items())
    # A resourceless group (1.36) names a provider by traits and aggregates
    # alone. Two upstream facts, kept here on purpose:
    # - it matches nothing at all unless it has a required trait or a
    #   positive member_of (RC.get_provider_ids_matching keeps only providers
    #   in `filtered_rps`, which is empty when nothing positive filtered);
    # - its in_tree is only checked for existence (it is applied in
    #   RC.get_providers_with_resource, which a resourceless group never
    #   calls); an unknown in_tree empties the result (_in_tree_root).
    return bool(group.traits.any_of or group.aggregates.any_of)


def _granular_anchors(world: World, request: CandidateRequest, uuid: str) -> set[str]:
    """The trees a granular group's provider can serve: its own, and, for a
    sharing provider, every tree that shares an aggregate with it; each
    anchor's root must meet root_required (AC._alloc_candidates_single_provider
    with RC.in_filtered_anchors). in_tree does not stop a sharing provider
    from serving other trees here, unlike in the unsuffixed group."""
    anchors = {world.root(uuid)}
    if world.is_sharing(uuid):
        anchors |= world.trees_shared_with(uuid)
    return {anchor for anchor in anchors if _anchor_allowed(world, request, anchor)}


def _anchor_allowed(world: World, request: CandidateRequest, anchor: str) -> bool:
    return request.root_traits.is_met_by(world.by_uuid[anchor].traits)


class _UnknownProvider(Exception):
    """in_tree names no provider: upstream raises ResourceProviderNotFound
    while building the group's search context and answers no candidates."""


def _in_tree_root(world: World, group: RequestGroup) -> str | None:
    if group.in_tree is None:
        return None
    if group.in_tree not in world.by_uuid:
        raise _UnknownProvider(group.in_tree)
    return world.root(group.in_tree)


# -- stage 2: merging one candidate per group -------------------------------


def _satisfies_isolate(request: CandidateRequest, combination: Sequence[GroupCandidate]) -> bool:
    """group_policy=isolate: every granular group (resourceless ones too) is
    served by a different provider; the unsuffixed group takes no part
    (AC._satisfies_group_policy)."""
    if request.group_policy is not GroupPolicy.ISOLATE:
        return True
    granular = [candidate for candidate in combination if candidate.granular]
    return len(set().union(*(c.providers for c in granular))) == len(granular)


def _satisfies_same_subtree(world: World, request: CandidateRequest, combination: Sequence[GroupCandidate]) -> bool:
    """same_subtree: the providers of the named groups all descend from (or
    are) one of them (AC._satisfies_same_subtree, AC._check_same_subtree)."""
    for suffixes in request.same_subtrees:
        providers = set().union(*(c.providers for c in combination if c.suffix in suffixes))
        if len(providers) <= 1:
            continue
        if not any(all(top in world.ancestors_or_self(other) for other in providers) for top in providers):
            return False
    return True


def _merge(combination: Sequence[GroupCandidate]) -> tuple[dict[tuple[str, str], int], dict[str, frozenset[str]]]:
    """AC._consolidate_allocation_requests: amounts of the same class from
    the same provider add up; mappings keep each group's providers."""
    amounts: dict[tuple[str, str], int] = {}
    for candidate in combination:
        for uuid, rc, amount in candidate.resources:
            amounts[(uuid, rc)] = amounts.get((uuid, rc), 0) + amount
    mappings = {candidate.suffix: candidate.providers for candidate in combination}
    return amounts, mappings


def _merged_fits(world: World, amounts: Mapping[tuple[str, str], int]) -> bool:
    """RC.exceeds_capacity on the merged request: for every provider and
    class, used + the summed amount <= capacity, and the summed amount <=
    max_unit. min_unit and step_size are checked per group only."""
    for (uuid, rc), amount in amounts.items():
        inventory = world.by_uuid[uuid].inventories[rc]
        if amount > world.free(uuid, rc) or amount > inventory.max_unit:
            return False
    return True


def _one_provider_per_tree(world: World, amounts: Mapping[tuple[str, str], int]) -> bool:
    """Before microversion 1.29 (not nested_aware) an allocation request may
    not take resources from two providers of the same tree; upstream builds
    the nested answer and then drops such requests
    (RC.exclude_nested_providers). A single child provider is allowed."""
    providers = {uuid for uuid, _ in amounts}
    return len(providers) == len({world.root(uuid) for uuid in providers})


def reference_candidates(providers: Sequence[ProviderSnapshot], request: CandidateRequest) -> ReferenceResult:
    """Every allocation request Placement 16.0.0 would answer for
    ``request`` over ``providers`` (``limit`` and ordering aside), and the
    providers its ``provider_summaries`` would list."""
    world = World(providers)
    try:
        per_group = {
            group.suffix: (
                _granular_candidates(world, request, group)
                if group.suffix
                else _unsuffixed_candidates(world, request, group)
            )
            for group in request.groups
        }
    except _UnknownProvider:
        return ReferenceResult((), frozenset())

    # Upstream's quirk, deliberately NOT reproduced: the unsuffixed group's
    # candidates are a set that ignores the anchor, so a candidate taken
    # wholly from sharing providers survives under only one of its anchors,
    # picked by hash order (which varies between processes), and can then
    # merge only with granular candidates of that one anchor. Here it keeps
    # every anchor; upstream's answer is a subset of this one.
    seen: dict[tuple, AllocationRequest] = {}
    for anchor in world.roots:
        choices = [
            sorted((c for c in per_group[group.suffix] if c.anchor == anchor), key=repr) for group in request.groups
        ]
        for combination in itertools.product(*choices):
            if not _satisfies_isolate(request, combination):
                continue
            if not _satisfies_same_subtree(world, request, combination):
                continue
            amounts, mappings = _merge(combination)
            if not _merged_fits(world, amounts):
                continue
            if not request.nested_aware and not _one_provider_per_tree(world, amounts):
                continue
            allocations: dict[str, dict[str, int]] = {}
            for (uuid, rc), amount in amounts.items():
                allocations.setdefault(uuid, {})[rc] = amount
            areq = AllocationRequest(
                allocations=allocations,
                mappings={suffix: tuple(sorted(uuids)) for suffix, uuids in mappings.items()},
            )
            # A set of allocation requests: the same request reached through
            # two anchors is one candidate (AC._merge_candidates).
            seen.setdefault(areq.key, areq)

    areqs = tuple(seen.values())
    return ReferenceResult(areqs, _summary_uuids(world, request, areqs))


def _summary_uuids(world: World, request: CandidateRequest, areqs: Sequence[AllocationRequest]) -> frozenset[str]:
    """provider_summaries: from 1.29 (nested_aware) every provider of every
    tree that gives resources to some allocation request -- providers that
    give nothing are included, a resourceless group's provider does not by
    itself bring its tree (AC._merge_candidates, "tree_uuids"). Before 1.29
    only the providers that give resources (RC.exclude_nested_providers;
    without nested providers in the deployment the two are the same)."""
    giving = {uuid for areq in areqs for uuid in areq.allocations}
    if not request.nested_aware:
        return frozenset(giving)
    trees = {world.root(uuid) for uuid in giving}
    return frozenset(uuid for uuid in world.uuids if world.root(uuid) in trees)
