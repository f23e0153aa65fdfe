"""The candidate search over the index: Placement's semantics, vectorised.

A search runs in three stages:

1. Per request group, numpy masks over every slot: which providers can give
   each requested class (capacity, unit rules, in_tree) and which pass the
   group's trait and aggregate filters. From them, the *anchors* (tree roots)
   under which the group can be satisfied at all. Anchors that every group
   can use are the only trees worth a closer look.
2. Anchor by anchor (in slot order, or shuffled), the ways each group can be
   satisfied inside that tree, plus sharing providers reachable from it, as
   small Python objects; then every combination of one way per group, kept
   when it meets group_policy, same_subtree, the combined capacity and the
   pre-1.29 one-provider-per-tree rule.
3. The provider summaries of the trees the kept candidates draw from.

With ``limit`` the search stops once it has that many candidates, so its
cost follows the limit, not the fleet; without it the cost is linear in the
number of anchors that pass stage 1.

Placement's rules, as its query code applies them:

- A group *with* a suffix takes all its resources from one provider, which
  must itself have the group's required traits and aggregates.
- The unsuffixed group, when the fleet has nested providers or sharing
  providers, may spread its classes over several providers of one tree and
  over sharing providers (``MISC_SHARES_VIA_AGGREGATE``) that share an
  aggregate with any provider of the tree. Its forbidden traits apply to each
  provider used; its required traits to the union of the traits of the
  providers used; ``member_of`` holds when the provider or the tree's root
  is a member; a forbidden aggregate excludes a provider when it or the
  root is a member. Sharing providers are not considered with ``in_tree``.
- ``root_required`` filters the anchor (the root of the tree a candidate is
  for), whatever provider gives the resources.
- A resourceless group (1.36) names one provider found by its required
  traits or member_of (without either it finds none); its ``in_tree`` only
  has to exist.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterator, Sequence

import numpy as np

from berth.placement.candidates.index import CandidateIndex
from berth.placement.candidates.request import CandidateRequest, GroupPolicy, RequestGroup
from berth.placement.candidates.result import (
    AllocationRequest,
    CandidateResult,
    ProviderSummary,
)
from berth.placement.model import MAX_INT
from berth.placement.query import AggregateRequirement, TraitRequirement


class NoCandidates(Exception):
    """Some requirement cannot be met by any provider: the answer is empty."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Way:
    """One way to satisfy one group under one anchor: (slot, class, amount)
    triples and the providers it maps the group to."""

    resources: tuple[tuple[int, str, int], ...]
    providers: frozenset[int]


class _Masks:
    """Masks over every slot, computed once per search."""

    def __init__(self, index: CandidateIndex) -> None:
        self.index = index

    def having_traits(self, requirement: TraitRequirement) -> np.ndarray:
        """Providers that by themselves meet ``requirement``."""
        mask = self.index.alive.copy()
        for any_of in requirement.any_of:
            mask &= self.index.any_trait(any_of)
        if requirement.forbidden:
            mask &= ~self.index.any_trait(requirement.forbidden)
        return mask

    def in_aggregates(self, requirement: AggregateRequirement) -> np.ndarray:
        """Members of every ``any_of`` set (all providers if none)."""
        mask = self.index.alive.copy()
        for any_of in requirement.any_of:
            mask &= self.index.any_aggregate(any_of)
        return mask


@dataclasses.dataclass
class _GroupSearch:
    """What stage 1 found for one group."""

    group: RequestGroup
    # Per requested class: the providers that can give it (capacity, units,
    # in_tree, forbidden traits, and for a suffixed group every filter).
    givers: dict[str, np.ndarray]
    # Providers that pass the group's provider-level filters.
    eligible: np.ndarray
    # Aggregate masks for the per-anchor rules of the unsuffixed group.
    member_of: np.ndarray | None
    forbidden_aggregates: np.ndarray | None
    # Roots under which the group can be satisfied (set once found).
    anchors: np.ndarray | None
    spreads: bool
    # Sharing providers among the eligible ones, and among the givers of
    # each class (few; listed once so that per-anchor work stays small).
    sharing_eligible: list[int] = dataclasses.field(default_factory=list)
    sharing_givers: dict[str, list[int]] = dataclasses.field(default_factory=dict)



class _Randomness:
    """One numpy generator per process, made on first use and again in a
    forked child: a generator inherited through fork would give every
    worker the same samples, so concurrent schedulers would pick the same
    hosts."""

    generator: np.random.Generator | None = None

    @classmethod
    def forget(cls) -> None:
        cls.generator = None


os.register_at_fork(after_in_child=_Randomness.forget)


def _random() -> np.random.Generator:
    if _Randomness.generator is None:
        _Randomness.generator = np.random.default_rng()
    return _Randomness.generator


# Below this share of slots set, a sample is drawn from the list of set
# slots rather than by drawing slots at random and keeping the set ones.
_DENSE_ENOUGH_TO_DRAW = 0.05


def _sample(mask: np.ndarray, wanted: int) -> np.ndarray:
    """Up to ``wanted`` of the slots set in ``mask``, uniformly at random
    without replacement, in random order.

    When many slots are set (a fleet with room, the common case), slots
    drawn at random and kept when set, each kept once, are such a sample
    at the cost of the sample: listing the set slots of a 10,000-host mask
    first costs more than the rest of a search's sampling.
    """
    count = int(np.count_nonzero(mask))
    rng = _random()
    if count <= wanted:
        return rng.permutation(np.flatnonzero(mask))
    if count < _DENSE_ENOUGH_TO_DRAW * len(mask):
        return rng.choice(np.flatnonzero(mask), wanted, replace=False)
    kept: dict[int, None] = {}
    # Enough draws to find ``wanted`` set slots about twice over.
    draws_per_round = 2 * wanted * len(mask) // count + 8
    size = len(mask)
    while len(kept) < wanted:
        # Raw 64-bit draws modulo the size: Generator.integers costs four
        # times as much for a few dozen numbers. The modulo's bias is at
        # most size / 2**64, and none for the index's slots (a power of two).
        draws = rng.bit_generator.random_raw(draws_per_round) % size
        for slot in draws[mask[draws]].tolist():
            kept[slot] = None  # the first draw of a slot decides its place
            if len(kept) == wanted:
                break
    return np.fromiter(kept, dtype=np.int64, count=wanted)


class Search:
    """One search over one index. Not shared between threads."""

    def __init__(
        self, index: CandidateIndex, request: CandidateRequest, anchors_within: np.ndarray | None = None
    ) -> None:
        self.index = index
        self.request = request
        self.anchors_within = anchors_within
        self.masks = _Masks(index)
        self._live_sharing = index.live_sharing
        self.any_sharing = self._live_sharing is not None
        self.has_trees = index.has_trees
        self._anchors_of_sharing: dict[int, np.ndarray] = {}
        self._ancestors: dict[int, frozenset[int]] = {}

    @property
    def sharing(self) -> np.ndarray:
        """Mask of the live sharing providers (none in most fleets)."""
        if self._live_sharing is None:
            self._live_sharing = np.zeros(self.index.size, dtype=bool)
        return self._live_sharing

    # -- stage 1 ----------------------------------------------------------------

    def run(self, limit: int | None, randomize: bool, max_candidates: int = 0) -> CandidateResult:
        try:
            anchor_filter = self._anchor_filter()
            groups = [self._search_group(group, anchor_filter) for group in self.request.groups]
        except NoCandidates:
            return CandidateResult.empty()
        anchors = groups[0].anchors & self.index.alive
        for group in groups[1:]:
            anchors &= group.anchors
        wanted = limit
        if max_candidates and (wanted is None or max_candidates < wanted):
            wanted = max_candidates
        whole = self._each_provider_alone(groups)
        if randomize and whole and wanted is not None:
            # Each anchor is exactly one candidate, so a random sample of
            # ``wanted`` anchors is the shuffled order cut short, at a
            # fraction of the cost of shuffling every anchor.
            order = _sample(anchors, wanted)
        else:
            order = np.flatnonzero(anchors)
            if randomize:
                order = _random().permutation(order)
        if whole:
            slots = order[:wanted].tolist()
            found = self._whole_providers(groups[0], slots)
            # Each candidate is the provider at its slot, its own tree: the
            # summaries are of those slots.
            summaries = tuple(self.index.summary(slot) for slot in sorted(slots))
        else:
            found = self._collect(groups, order, wanted)
            summaries = self._summaries(found)
        return CandidateResult(tuple(found), summaries)

    def _each_provider_alone(self, groups: Sequence[_GroupSearch]) -> bool:
        """True when every candidate is one provider that is its own tree:
        one group served by single providers, no nesting, no sharing. Then
        the anchors are the candidates (the common flat fleet)."""
        return (
            len(groups) == 1
            and not groups[0].spreads
            and not self.has_trees
            and not groups[0].sharing_eligible
        )

    def _whole_providers(self, group: _GroupSearch, slots: list[int]) -> list[AllocationRequest]:
        """One candidate per slot, taking the group's resources from it. The
        capacity and unit checks of stage 1 are all a lone group needs."""
        resources = dict(group.group.resources)
        suffix = group.group.suffix
        uuids = self.index.uuids
        found = []
        for slot in slots:
            uuid = uuids[slot]
            found.append(AllocationRequest({uuid: resources}, {suffix: (uuid,)}))
        return found

    def _anchor_filter(self) -> np.ndarray:
        """Roots a candidate may be anchored at (root_required, 1.35)."""
        mask = self.index.live_roots
        if self.anchors_within is not None:
            mask = mask & self.anchors_within
        if not self.request.root_traits.is_empty:
            mask = mask & self.masks.having_traits(self.request.root_traits)
            if not mask.any():
                raise NoCandidates
        return mask

    def _search_group(self, group: RequestGroup, anchor_filter: np.ndarray) -> _GroupSearch:
        index, masks = self.index, self.masks
        spreads = not group.single_provider and (self.has_trees or self.any_sharing)
        tree_root = None
        if group.in_tree is not None:
            slot = index.slot_of.get(group.in_tree)
            if slot is None:
                raise NoCandidates
            tree_root = int(index.root[slot])
        member_of = None
        if group.aggregates.any_of:
            member_of = masks.in_aggregates(group.aggregates)
            if not member_of.any():
                raise NoCandidates
        forbidden_aggregates = None
        if group.aggregates.forbidden:
            forbidden_aggregates = index.any_aggregate(group.aggregates.forbidden)
        if spreads:
            # Traits and aggregates are judged per candidate (below); only
            # forbidden traits can be applied to providers one by one.
            eligible = index.alive.copy()
            if group.traits.forbidden:
                eligible &= ~index.any_trait(group.traits.forbidden)
            if group.traits.any_of and not index.any_trait(
                frozenset().union(*group.traits.any_of)
            ).any():
                raise NoCandidates
        else:
            eligible = masks.having_traits(group.traits)
            if member_of is not None:
                eligible &= member_of
            if forbidden_aggregates is not None:
                eligible &= ~forbidden_aggregates
        if not group.resources and not (group.traits.any_of or group.aggregates.any_of):
            # A resourceless group is matched by its required traits and
            # member_of only: with neither, Placement finds no provider for
            # it (forbidden traits and aggregates only narrow a match).
            raise NoCandidates
        givers: dict[str, np.ndarray] = {}
        for resource_class, amount in group.resources.items():
            column = index.resources.get(resource_class)
            # No inventory's max_unit exceeds MAX_INT; larger amounts would
            # also overflow the columns' integers.
            if column is None or amount > MAX_INT:
                raise NoCandidates
            # Only live slots are present in a column (a vacated slot's
            # columns are cleared): no need to narrow to the live ones.
            fits = column.fits(amount)
            if tree_root is not None:
                fits = fits & (index.root == tree_root)
            if spreads:
                if not fits.any():
                    raise NoCandidates
                givers[resource_class] = fits & eligible
            else:
                # One provider gives every class: the providers that can
                # are the eligible ones that fit each (a mask of this
                # search's own, narrowed in place).
                eligible &= fits
        if not spreads and group.resources and not eligible.any():
            raise NoCandidates
        search = _GroupSearch(group, givers, eligible, member_of, forbidden_aggregates, None, spreads)
        search.anchors = (
            self._spread_anchors(search, tree_root) if spreads else self._single_anchors(search)
        ) & anchor_filter
        return search

    def _single_anchors(self, search: _GroupSearch) -> np.ndarray:
        """Anchors of a group served by one provider: the provider's root,
        and for a sharing provider every root it shares with."""
        providers = search.eligible
        anchors = self.index.roots_of_mask(providers)
        if self.any_sharing:
            search.sharing_eligible = [int(slot) for slot in np.flatnonzero(providers & self.sharing)]
        for slot in search.sharing_eligible:
            anchors |= self._sharing_anchors(slot)
        return anchors

    def _spread_anchors(self, search: _GroupSearch, tree_root: int | None) -> np.ndarray:
        """Anchors under which every class of the group has a giver."""
        index = self.index
        anchors = index.alive.copy()
        for resource_class, givers in search.givers.items():
            local = givers.copy()
            roots = index.root
            if search.member_of is not None:
                local &= search.member_of | search.member_of[roots]
            if search.forbidden_aggregates is not None:
                local &= ~(search.forbidden_aggregates | search.forbidden_aggregates[roots])
            for_class = self.index.roots_of_mask(local)
            if tree_root is None:
                # A sharing provider outside member_of is not offered to
                # other trees, even those whose root is a member.
                shared = givers & self.sharing
                if search.member_of is not None:
                    shared &= search.member_of
                search.sharing_givers[resource_class] = [int(s) for s in np.flatnonzero(shared)]
                for slot in search.sharing_givers[resource_class]:
                    # member_of holds already (the provider is a member);
                    # a forbidden aggregate rules out the provider or the
                    # anchors in it.
                    reached = self._sharing_anchors(slot)
                    if search.forbidden_aggregates is not None:
                        if search.forbidden_aggregates[slot]:
                            continue
                        reached = reached & ~search.forbidden_aggregates
                    for_class |= reached
            anchors &= for_class
        return anchors

    def _spread_entry_allowed(self, search: _GroupSearch, slot: int, anchor: int) -> bool:
        """The unsuffixed group's aggregate rules for a provider used under
        an anchor: member_of holds for the provider or the anchor, and
        neither is in a forbidden aggregate."""
        if search.member_of is not None and not (search.member_of[slot] or search.member_of[anchor]):
            return False
        if search.forbidden_aggregates is not None and (
            search.forbidden_aggregates[slot] or search.forbidden_aggregates[anchor]
        ):
            return False
        return True

    def _sharing_anchors(self, slot: int) -> np.ndarray:
        """Mask of the roots of every tree with a provider in an aggregate
        of the sharing provider at ``slot``, its own root included."""
        cached = self._anchors_of_sharing.get(slot)
        if cached is None:
            members = self.index.any_aggregate(self.index.aggregates[slot]) & self.index.alive
            cached = self.index.roots_of(np.flatnonzero(members))
            cached[self.index.root[slot]] = True
            self._anchors_of_sharing[slot] = cached
        return cached

    # -- stage 2 ----------------------------------------------------------------

    def _collect(
        self, groups: Sequence[_GroupSearch], anchors: np.ndarray, wanted: int | None
    ) -> list[AllocationRequest]:
        found: list[AllocationRequest] = []
        seen: set = set()
        for anchor in anchors:
            for candidate in self._candidates_at(groups, int(anchor)):
                key = candidate.key
                if key in seen:
                    continue
                seen.add(key)
                found.append(candidate)
                if wanted is not None and len(found) >= wanted:
                    return found
        return found

    def _candidates_at(self, groups: Sequence[_GroupSearch], anchor: int) -> Iterator[AllocationRequest]:
        ways_per_group = []
        for group in groups:
            ways = self._single_ways(group, anchor) if not group.spreads else self._spread_ways(group, anchor)
            if not ways:
                return
            ways_per_group.append(ways)
        granular = sum(1 for g in groups if g.group.single_provider)
        for combination in itertools.product(*ways_per_group):
            candidate = self._combine(groups, combination, granular)
            if candidate is not None:
                yield candidate

    def _providers_under(self, anchor: int, mask: np.ndarray, sharing: list[int]) -> list[int]:
        """Providers of the anchor's tree set in ``mask``, then those of
        ``sharing`` (from other trees) that reach it."""
        local = sorted(slot for slot in self.index.tree_of(anchor) if mask[slot])
        shared = [
            slot for slot in sharing
            if self.index.root[slot] != anchor and self._sharing_anchors(slot)[anchor]
        ]
        return local + shared

    def _single_ways(self, group: _GroupSearch, anchor: int) -> list[_Way]:
        amounts = tuple(group.group.resources.items())
        return [
            _Way(tuple((slot, rc, amount) for rc, amount in amounts), frozenset([slot]))
            for slot in self._providers_under(anchor, group.eligible, group.sharing_eligible)
        ]

    def _spread_ways(self, group: _GroupSearch, anchor: int) -> list[_Way]:
        per_class: list[list[tuple[int, str, int]]] = []
        for resource_class, givers in group.givers.items():
            amount = group.group.resources[resource_class]
            sharing = group.sharing_givers.get(resource_class, [])
            options = [
                (slot, resource_class, amount)
                for slot in self._providers_under(anchor, givers, sharing)
                if self._spread_entry_allowed(group, slot, anchor)
            ]
            if not options:
                return []
            per_class.append(options)
        traits = group.group.traits
        ways = []
        for choice in itertools.product(*per_class):
            providers = frozenset(slot for slot, _, _ in choice)
            held = frozenset().union(*(self.index.traits[slot] for slot in providers))
            if all(any_of & held for any_of in traits.any_of):
                ways.append(_Way(tuple(choice), providers))
        return ways

    def _combine(
        self, groups: Sequence[_GroupSearch], ways: Sequence[_Way], granular: int
    ) -> AllocationRequest | None:
        """One candidate from one way per group, or None when the
        combination breaks a request-wide rule."""
        if self.request.group_policy is GroupPolicy.ISOLATE and granular > 1:
            used = set()
            for group, way in zip(groups, ways):
                if group.group.single_provider:
                    used |= way.providers
            if len(used) != granular:
                return None
        mapped: dict[str, set[int]] = {}
        for group, way in zip(groups, ways):
            mapped.setdefault(group.group.suffix, set()).update(way.providers)
        for suffixes in self.request.same_subtrees:
            members = set().union(*(mapped.get(suffix, ()) for suffix in suffixes))
            if not self._one_subtree(members):
                return None
        amounts: dict[tuple[int, str], int] = {}
        for way in ways:
            for slot, resource_class, amount in way.resources:
                amounts[(slot, resource_class)] = amounts.get((slot, resource_class), 0) + amount
        for (slot, resource_class), amount in amounts.items():
            column = self.index.resources[resource_class]
            if column.used[slot] + amount > column.whole_capacity(slot) or amount > column.max_unit[slot]:
                return None
        if not self.request.nested_aware and self.has_trees:
            # Before 1.29 a candidate takes from one provider per tree.
            slots = {slot for slot, _ in amounts}
            if len({int(self.index.root[s]) for s in slots}) != len(slots):
                return None
        uuid = self.index.uuid
        allocations: dict[str, dict[str, int]] = {}
        for (slot, resource_class), amount in amounts.items():
            allocations.setdefault(uuid(slot), {})[resource_class] = amount
        mappings = {
            suffix: tuple(sorted(uuid(slot) for slot in slots)) for suffix, slots in mapped.items()
        }
        return AllocationRequest(allocations, mappings)

    def _one_subtree(self, slots: set[int]) -> bool:
        """True when one of ``slots`` is an ancestor-or-self of all others."""
        if len(slots) <= 1:
            return True
        common = frozenset.intersection(*(self._ancestry(slot) for slot in slots))
        return bool(common & slots)

    def _ancestry(self, slot: int) -> frozenset[int]:
        cached = self._ancestors.get(slot)
        if cached is None:
            chain = [slot]
            parent = int(self.index.parent[slot])
            while parent >= 0:
                chain.append(parent)
                parent = int(self.index.parent[parent])
            cached = self._ancestors[slot] = frozenset(chain)
        return cached

    # -- stage 3 ----------------------------------------------------------------

    def _summaries(self, found: Sequence[AllocationRequest]) -> tuple[ProviderSummary, ...]:
        index = self.index
        used_slots = {index.slot_of[uuid] for candidate in found for uuid in candidate.allocations}
        if not self.has_trees:
            # Every tree is its provider alone.
            shown = used_slots
        elif not self.request.nested_aware:
            # Before 1.29 only the providers the candidates use are summarised.
            shown = used_slots
        else:
            shown = set()
            for root in {int(index.root[slot]) for slot in used_slots}:
                shown.update(index.tree_of(root))
        return tuple(index.summary(slot) for slot in sorted(shown))


def search(
    index: CandidateIndex, request: CandidateRequest, *, randomize: bool = False, max_candidates: int = 0,
    anchors_within: np.ndarray | None = None,
) -> CandidateResult:
    """The candidates for ``request`` in ``index``; ``anchors_within`` (a
    mask over slots), when given, narrows the trees a candidate may be
    anchored at (a scheduler's cell or zone, which Placement's API has no
    words for)."""
    randomize = randomize or request.randomize
    return Search(index, request, anchors_within).run(request.limit, randomize, max_candidates)
