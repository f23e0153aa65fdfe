"""Small random provider worlds and candidate requests, for hypothesis.

A world is plain data (``WorldSpec``): trees of providers, a few sharing
providers, inventories, traits, aggregates and the allocations that make
usages. ``write_world`` puts it into a real store through the store port;
``world_to_json`` gives the same world to the upstream oracle
(``upstream_oracle.py``). ``requests(world)`` draws requests that upstream
Placement would accept (no 400s): every trait named exists, a resourceless
group is named in a same_subtree, and pre-1.29 requests use only what
microversion 1.28 can say.
"""

from __future__ import annotations

import dataclasses
import uuid as uuidlib
from collections.abc import Mapping

from hypothesis import strategies as st

from berth.placement.candidates.request import CandidateRequest, GroupPolicy, RequestGroup
from berth.placement.model import ConsumerClaim, Inventory, ProviderSnapshot
from berth.placement.query import AggregateRequirement, TraitRequirement
from berth.store.port import Store

from .reference import SHARING_TRAIT

CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB", "SRIOV_NET_VF", "CUSTOM_X")
TRAITS = ("HW_CPU_X86_AVX2", "STORAGE_DISK_SSD", "CUSTOM_T1", "CUSTOM_T2")
# Traits a request may name: the pool, plus the sharing trait itself.
REQUEST_TRAITS = TRAITS + (SHARING_TRAIT,)
AGGREGATES = (
    "aaaaaaaa-0000-4000-8000-000000000001",
    "aaaaaaaa-0000-4000-8000-000000000002",
    "aaaaaaaa-0000-4000-8000-000000000003",
)
# An aggregate no provider is in (member_of may name it).
UNUSED_AGGREGATE = "aaaaaaaa-0000-4000-8000-0000000000ff"
RATIOS = (1.0, 1.5, 2.0, 0.5)  # exact in binary: no rounding surprises
MISSING_PROVIDER = "ffffffff-0000-4000-8000-000000000000"


@dataclasses.dataclass(frozen=True)
class ProviderSpec:
    uuid: str
    name: str
    parent: str | None
    inventories: Mapping[str, Inventory]
    traits: frozenset[str]
    aggregates: frozenset[str]
    # Amounts allocated per class, each one consumer's single allocation.
    used: Mapping[str, tuple[int, ...]]


@dataclasses.dataclass(frozen=True)
class WorldSpec:
    providers: tuple[ProviderSpec, ...]  # parents before children

    def describe(self) -> str:
        lines = []
        for p in self.providers:
            inv = ", ".join(
                f"{rc}(t={i.total} r={i.reserved} min={i.min_unit} max={i.max_unit} "
                f"step={i.step_size} ratio={i.allocation_ratio} used={sum(p.used.get(rc, ()))})"
                for rc, i in sorted(p.inventories.items())
            )
            lines.append(
                f"{p.name} parent={_name_of(self, p.parent)} traits={sorted(p.traits)} "
                f"aggs={sorted(a[-1] for a in p.aggregates)} inv=[{inv}]"
            )
        return "\n".join(lines)


def _name_of(world: WorldSpec, uuid: str | None) -> str | None:
    for p in world.providers:
        if p.uuid == uuid:
            return p.name
    return uuid


# -- worlds -------------------------------------------------------------------


def sometimes(draw, one_in: int) -> bool:
    """True about once in ``one_in`` draws; hypothesis's simplest value is
    the common case (False), so shrinking heads for plain examples."""
    return draw(st.integers(1, one_in)) == one_in


@st.composite
def inventories(draw) -> Inventory:
    total = draw(st.integers(1, 10))
    # Mostly permissive unit rules, so that many requests have answers.
    reserved = draw(st.sampled_from((0, 0, 0, 1, 2)))
    reserved = min(reserved, total)
    min_unit = draw(st.sampled_from((1, 1, 1, 2)))
    max_unit = draw(st.sampled_from((total + 2, total, min_unit + 1, min_unit)))
    return Inventory(
        resource_class="",  # set by the caller
        total=total,
        reserved=reserved,
        min_unit=min_unit,
        max_unit=max_unit,
        step_size=draw(st.sampled_from((1, 1, 1, 2))),
        allocation_ratio=draw(st.sampled_from(RATIOS)),
    )


def _valid_amounts(inventory: Inventory) -> list[int]:
    capacity = int((inventory.total - inventory.reserved) * inventory.allocation_ratio)
    return [a for a in range(1, capacity + 1) if inventory.admits(a)]


@st.composite
def provider_specs(draw, uuid: str, name: str, parent: str | None, sharing: bool) -> ProviderSpec:
    classes = draw(st.lists(st.sampled_from(CLASSES), unique=True, min_size=2 if parent is None else 0, max_size=4))
    invs = {}
    used = {}
    for rc in classes:
        inventory = dataclasses.replace(draw(inventories()), resource_class=rc)
        invs[rc] = inventory
        amounts = _valid_amounts(inventory)
        if amounts and sometimes(draw, 4):
            amount = draw(st.sampled_from(amounts))
            used[rc] = (amount,)
    traits = draw(st.frozensets(st.sampled_from(TRAITS), max_size=2))
    if sharing:
        traits |= {SHARING_TRAIT}
    aggregates = draw(st.frozensets(st.sampled_from(AGGREGATES), max_size=2))
    return ProviderSpec(uuid, name, parent, invs, traits, aggregates, used)


@st.composite
def worlds(draw) -> WorldSpec:
    """1-4 trees of depth up to 3 and 0-2 standalone sharing providers; a
    tree root is sometimes a sharing provider too. At most 14 providers."""
    counter = iter(range(1000))

    def new_uuid() -> str:
        return str(uuidlib.UUID(int=next(counter) + 1))

    providers: list[ProviderSpec] = []

    def add_tree(parent: str | None, depth: int, tree: int, path: str) -> None:
        uuid = new_uuid()
        sharing = parent is None and sometimes(draw, 6)
        providers.append(draw(provider_specs(uuid, f"cn{tree}{path}", parent, sharing)))
        if depth < 3 and len(providers) < 12:
            for child in range(draw(st.integers(0, 2))):
                add_tree(uuid, depth + 1, tree, f"{path}.{child}")

    for tree in range(draw(st.integers(1, 4))):
        add_tree(None, 1, tree, "")
    for share in range(draw(st.integers(0, 2))):
        providers.append(draw(provider_specs(new_uuid(), f"ss{share}", None, sharing=True)))
    return WorldSpec(tuple(providers))


def write_world(store: Store, world: WorldSpec) -> None:
    """Create the world through the store port, as the API would."""
    store.create_resource_class("CUSTOM_X")
    for trait in TRAITS:
        if trait.startswith("CUSTOM_"):
            store.ensure_trait(trait)
    claims = []
    for p in world.providers:
        generation = store.create_provider(p.uuid, p.name, p.parent).generation
        if p.inventories:
            generation = store.replace_inventories(p.uuid, generation, p.inventories).provider.generation
        if p.traits:
            generation = store.set_provider_traits(p.uuid, generation, p.traits).provider.generation
        if p.aggregates:
            store.set_provider_aggregates(p.uuid, generation, p.aggregates)
        for rc, amounts in p.used.items():
            for amount in amounts:
                claims.append(
                    ConsumerClaim(
                        consumer_uuid=str(uuidlib.uuid4()),
                        project_id="project",
                        user_id="user",
                        allocations={p.uuid: {rc: amount}},
                    )
                )
    if claims:
        store.write_allocations(claims)


def world_to_json(world: WorldSpec) -> dict:
    return {
        "providers": [
            {
                "uuid": p.uuid,
                "name": p.name,
                "parent": p.parent,
                "inventories": {
                    rc: {
                        "total": i.total,
                        "reserved": i.reserved,
                        "min_unit": i.min_unit,
                        "max_unit": i.max_unit,
                        "step_size": i.step_size,
                        "allocation_ratio": i.allocation_ratio,
                    }
                    for rc, i in p.inventories.items()
                },
                "traits": sorted(p.traits),
                "aggregates": sorted(p.aggregates),
                "used": {rc: list(amounts) for rc, amounts in p.used.items()},
            }
            for p in world.providers
        ]
    }


# -- requests -----------------------------------------------------------------


@st.composite
def trait_requirements(draw, nested_aware: bool) -> TraitRequirement:
    names = st.sampled_from(REQUEST_TRAITS)
    # any-of sets (in:A,B) exist from 1.39 only.
    choice = st.frozensets(names, min_size=1, max_size=2 if nested_aware else 1)
    any_of = tuple(draw(st.lists(choice, max_size=2)))
    forbidden = draw(st.frozensets(names, max_size=1))
    # Upstream answers 400 when a required set is wholly forbidden
    # (lib.RequestGroup._check_forbidden); such a request never gets here.
    any_of = tuple(c for c in any_of if not c <= forbidden)
    return TraitRequirement(any_of=any_of, forbidden=forbidden)


@st.composite
def aggregate_requirements(draw, nested_aware: bool) -> AggregateRequirement:
    names = st.sampled_from(AGGREGATES + (UNUSED_AGGREGATE,))
    any_of = tuple(draw(st.lists(st.frozensets(names, min_size=1, max_size=2), max_size=2)))
    # Forbidden aggregates (!in:) exist from 1.32.
    forbidden = draw(st.frozensets(names, max_size=1)) if nested_aware else frozenset()
    return AggregateRequirement(any_of=any_of, forbidden=forbidden)


@st.composite
def groups(draw, world: WorldSpec, suffix: str, nested_aware: bool, resourceless: bool) -> RequestGroup:
    resources = {}
    if not resourceless:
        size = draw(st.sampled_from((1, 1, 2, 2, 3) if not suffix else (1, 1, 1, 2)))
        # Mostly classes some provider has, so that many requests have answers.
        present = sorted({rc for p in world.providers for rc in p.inventories})
        pool = present if present and len(present) >= size and not sometimes(draw, 5) else CLASSES
        classes = draw(st.lists(st.sampled_from(pool), unique=True, min_size=size, max_size=size))
        resources = {rc: draw(st.sampled_from((1, 1, 2, 3))) for rc in classes}
    in_tree = None
    # in_tree exists from 1.31.
    if nested_aware and sometimes(draw, 5):
        in_tree = draw(st.sampled_from([p.uuid for p in world.providers] + [MISSING_PROVIDER]))
    # A resourceless group names its provider by traits, mostly.
    traits = (
        draw(trait_requirements(nested_aware))
        if sometimes(draw, 3) or (resourceless and not sometimes(draw, 4))
        else TraitRequirement()
    )
    aggregates = draw(aggregate_requirements(nested_aware)) if sometimes(draw, 4) else AggregateRequirement()
    if resourceless and traits.is_empty and aggregates.is_empty and in_tree is None:
        # A group exists only through a parameter with its suffix.
        traits = TraitRequirement(any_of=(frozenset({draw(st.sampled_from(REQUEST_TRAITS))}),))
    return RequestGroup(suffix=suffix, resources=resources, traits=traits, aggregates=aggregates, in_tree=in_tree)


@st.composite
def requests(draw, world: WorldSpec) -> CandidateRequest:
    """1-3 groups; features gated by microversion: nested_aware=False is
    1.28 (granular groups, forbidden traits, member_of), True is 1.39."""
    nested_aware = draw(st.booleans())
    with_unsuffixed = draw(st.booleans())
    granular = draw(st.integers(0 if with_unsuffixed else 1, 3 - int(with_unsuffixed)))
    suffixes = [str(n + 1) for n in range(granular)]
    same_subtrees: tuple[frozenset[str], ...] = ()
    resourceless: set[str] = set()
    if nested_aware and len(suffixes) >= 2 and draw(st.booleans()):
        named = frozenset(draw(st.lists(st.sampled_from(suffixes), unique=True, min_size=2)))
        same_subtrees = (named,)
        # A resourceless group (1.36) must be named in a same_subtree, and at
        # least one group must ask for resources.
        for suffix in sorted(named):
            if sometimes(draw, 3):
                resourceless.add(suffix)
        if not with_unsuffixed and resourceless == set(suffixes):
            resourceless.discard(min(resourceless))
        if len(suffixes) == 3 and sometimes(draw, 3):
            # Each same_subtree parameter is a constraint of its own.
            same_subtrees += (frozenset(draw(st.lists(st.sampled_from(suffixes), unique=True, min_size=2, max_size=2))),)
    built = []
    if with_unsuffixed:
        built.append(draw(groups(world, "", nested_aware, resourceless=False)))
    for suffix in suffixes:
        built.append(draw(groups(world, suffix, nested_aware, resourceless=suffix in resourceless)))
    root_traits = TraitRequirement()
    # root_required exists from 1.35; plain traits only.
    if nested_aware and sometimes(draw, 4):
        required = draw(st.frozensets(st.sampled_from(REQUEST_TRAITS), max_size=1))
        forbidden = draw(st.frozensets(st.sampled_from(REQUEST_TRAITS), max_size=1)) - required
        root_traits = TraitRequirement(any_of=tuple(frozenset({t}) for t in sorted(required)), forbidden=forbidden)
    return CandidateRequest(
        groups=tuple(built),
        group_policy=draw(st.sampled_from(GroupPolicy)),
        root_traits=root_traits,
        same_subtrees=same_subtrees,
        nested_aware=nested_aware,
    )


def request_to_json(request: CandidateRequest) -> dict:
    return {
        "nested_aware": request.nested_aware,
        "group_policy": request.group_policy.value,
        "root_required": sorted(request.root_traits.names - request.root_traits.forbidden),
        "root_forbidden": sorted(request.root_traits.forbidden),
        "same_subtrees": [sorted(s) for s in request.same_subtrees],
        "groups": [
            {
                "suffix": g.suffix,
                "resources": dict(g.resources),
                "any_of": [sorted(c) for c in g.traits.any_of],
                "forbidden": sorted(g.traits.forbidden),
                "member_of": [sorted(c) for c in g.aggregates.any_of],
                "forbidden_aggs": sorted(g.aggregates.forbidden),
                "in_tree": g.in_tree,
            }
            for g in request.groups
        ],
    }


def snapshots(world: WorldSpec) -> tuple[ProviderSnapshot, ...]:
    """The world as the store's change feed would give it (without a store)."""
    parents = {p.uuid: p.parent for p in world.providers}

    def root(uuid: str) -> str:
        while parents[uuid] is not None:
            uuid = parents[uuid]
        return uuid

    return tuple(
        ProviderSnapshot(
            uuid=p.uuid,
            name=p.name,
            generation=0,
            root_provider_uuid=root(p.uuid),
            parent_provider_uuid=p.parent,
            inventories=dict(p.inventories),
            usages={rc: sum(p.used.get(rc, ())) for rc in p.inventories},
            traits=p.traits,
            aggregates=p.aggregates,
        )
        for p in world.providers
    )
