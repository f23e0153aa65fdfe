"""The read-side index of providers that candidate searches run on.

Columns over provider *slots*: each provider the store holds gets a slot the
first time the index sees it and keeps it until it is deleted. Per resource
class there is a column of capacity, usage and unit rules; per trait and per
aggregate a boolean column of members. A search is then a few vector
operations over the slots (search.py) instead of a query per request.

The index is a derived cache: it is filled and kept current only from the
store's change feed (``Store.read_provider_changes``), never from messages
between processes, and every claim is still a compare-and-set in the store,
so a stale index can cost a failed claim, never an over-commit.

Memory: a slot costs a few dozen bytes per resource class in use, one byte
per trait and per aggregate in use, plus the provider's uuid and its trait
and aggregate sets. Slots of deleted providers are reused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping

import numpy as np

from berth.placement.candidates.result import ProviderSummary, ResourceSummary
from berth.placement.model import Inventory, ProviderSnapshot, UsageChange

SHARING_TRAIT = "MISC_SHARES_VIA_AGGREGATE"

_INITIAL_SLOTS = 1024
# At most this many provider summaries are kept (CandidateIndex.summary);
# beyond it they are all dropped and built again as searches ask for them.
SUMMARIES_KEPT = 20_000
# At most this many masks of ResourceColumn.fits are kept per class.
FITTING_KEPT = 32


def _grown(array: np.ndarray, size: int, fill) -> np.ndarray:
    bigger = np.full(size, fill, dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


@dataclasses.dataclass
class ResourceColumn:
    """One resource class over every slot. ``present`` is false where the
    provider has no inventory of the class."""

    present: np.ndarray
    # (total - reserved) * allocation_ratio, as a float: Placement compares
    # usage + amount against this product, unrounded.
    capacity: np.ndarray
    used: np.ndarray
    # capacity - used. Exact: ``used`` is an integer below 2**53, so the
    # difference is representable, and ``free >= amount`` answers exactly
    # what ``used + amount <= capacity`` does, in one operation fewer.
    free: np.ndarray
    min_unit: np.ndarray
    max_unit: np.ndarray
    step_size: np.ndarray
    # Bounds over every inventory the column has held since it was made:
    # amounts between them, with no step size other than 1, pass the unit
    # checks everywhere, and ``fits`` skips them (the usual case).
    largest_min_unit: int = 1
    smallest_max_unit: int = 2**63 - 1
    has_steps: bool = False
    # ``fits(amount)`` by amount, kept until the column's inventories change
    # and brought up to date slot by slot when a usage changes (``use``):
    # requests ask for a few distinct amounts (flavors), and a claim moves
    # the usage of one slot between two searches.
    # Each as the mask (updated in place), a read-only view of it, and
    # whether the amount is within every slot's unit rules (``plain``: then
    # a slot's bit is ``free >= amount`` alone).
    _fitting: dict[int, tuple[np.ndarray, np.ndarray, bool]] = dataclasses.field(
        default_factory=dict, repr=False,
    )

    @classmethod
    def empty(cls, size: int) -> ResourceColumn:
        return cls(
            present=np.zeros(size, dtype=bool),
            capacity=np.zeros(size, dtype=np.float64),
            used=np.zeros(size, dtype=np.int64),
            free=np.zeros(size, dtype=np.float64),
            min_unit=np.zeros(size, dtype=np.int64),
            max_unit=np.zeros(size, dtype=np.int64),
            step_size=np.ones(size, dtype=np.int64),
        )

    def grow(self, size: int) -> None:
        self._fitting.clear()
        self.present = _grown(self.present, size, False)
        self.capacity = _grown(self.capacity, size, 0.0)
        self.used = _grown(self.used, size, 0)
        self.free = _grown(self.free, size, 0.0)
        self.min_unit = _grown(self.min_unit, size, 0)
        self.max_unit = _grown(self.max_unit, size, 0)
        self.step_size = _grown(self.step_size, size, 1)

    def set(self, slot: int, inventory: Inventory, used: int) -> None:
        self._fitting.clear()
        self.present[slot] = True
        self.capacity[slot] = inventory.capacity
        self.used[slot] = used
        self.free[slot] = inventory.capacity - used
        self.min_unit[slot] = inventory.min_unit
        self.max_unit[slot] = inventory.max_unit
        self.step_size[slot] = inventory.step_size
        self.largest_min_unit = max(self.largest_min_unit, inventory.min_unit)
        self.smallest_max_unit = min(self.smallest_max_unit, inventory.max_unit)
        self.has_steps = self.has_steps or inventory.step_size != 1

    def use(self, slot: int, used: int) -> None:
        self.used[slot] = used
        free = self.capacity.item(slot) - used
        self.free[slot] = free
        if not self._fitting:
            return
        for amount, (mask, _, plain) in self._fitting.items():
            if plain:  # what _fits_where comes down to for this amount
                mask[slot] = free >= amount
            else:
                mask[slot] = self._fits_where(
                    amount, free, self.present.item(slot), self.min_unit.item(slot),
                    self.max_unit.item(slot), self.step_size.item(slot),
                )

    def clear(self, slot: int) -> None:
        self._fitting.clear()
        self.present[slot] = False
        self.used[slot] = 0
        self.free[slot] = 0.0

    def fits(self, amount: int) -> np.ndarray:
        """Slots where one more allocation of ``amount`` fits: Placement's
        capacity and unit checks, vectorised. Shared between searches (kept
        per amount, read-only): do not change it in place."""
        kept = self._fitting.get(amount)
        if kept is None:
            if len(self._fitting) >= FITTING_KEPT:
                self._fitting.clear()
            mask = self._fits_where(
                amount, self.free, self.present, self.min_unit, self.max_unit, self.step_size,
            )
            shared = mask.view()
            shared.flags.writeable = False
            plain = amount >= 1 and not self._unit_checked(amount)
            kept = self._fitting[amount] = (mask, shared, plain)
        return kept[1]

    def _unit_checked(self, amount: int) -> bool:
        """Whether ``amount`` may break some slot's unit rules."""
        return self.has_steps or not self.largest_min_unit <= amount <= self.smallest_max_unit

    def _fits_where(self, amount: int, free, present, min_unit, max_unit, step_size):
        """The checks of ``fits`` on columns (arrays over every slot) or on
        one slot's values (Python numbers): the operators are the same."""
        # A slot without inventory of the class has free 0 (empty, clear,
        # grow), so for a positive amount ``free >= amount`` rules it out
        # on its own.
        mask = free >= amount if amount >= 1 else present & (free >= amount)
        if self._unit_checked(amount):
            mask &= (min_unit <= amount) & (max_unit >= amount) & (amount % step_size == 0)
        return mask

    def whole_capacity(self, slot: int) -> int:
        """The capacity Placement reports in provider summaries (truncated)."""
        return int(self.capacity[slot])


class CandidateIndex:
    """Every provider the store holds, as columns over slots."""

    def __init__(self) -> None:
        self.size = _INITIAL_SLOTS
        self.slot_of: dict[str, int] = {}
        self.uuids: list[str | None] = [None] * self.size
        self.alive = np.zeros(self.size, dtype=bool)
        # Slot of the provider's root (itself for a root) and of its parent
        # (-1 for a root).
        self.root = np.arange(self.size, dtype=np.int64)
        self.parent = np.full(self.size, -1, dtype=np.int64)
        self.traits: list[frozenset[str]] = [frozenset()] * self.size
        self.aggregates: list[frozenset[str]] = [frozenset()] * self.size
        self.resources: dict[str, ResourceColumn] = {}
        self.trait_columns: dict[str, np.ndarray] = {}
        self.aggregate_columns: dict[str, np.ndarray] = {}
        # root slot -> slots of its tree (the root included), only for
        # roots with children: a flat fleet of N providers would keep N
        # one-member sets.
        self.trees: dict[int, set[int]] = {}
        # One frozenset object per distinct set of traits or aggregates:
        # thousands of providers share a handful of sets, and the
        # change feed gives each its own copy.
        self._sets: dict[frozenset[str], frozenset[str]] = {}
        self._free_slots: list[int] = []
        self._next_slot = 0
        self._children_count = 0
        # The live roots and their count, kept until a provider is stored,
        # moved or removed (claims leave them as they are).
        self._live_roots: np.ndarray | None = None
        self._live_root_count = 0
        self._live_sharing: np.ndarray | None = None
        # Summaries by slot, until the slot's usage or any provider's shape
        # changes: a claim changes a slot or two, and a search reports a
        # dozen or more that mostly have not changed since the last time.
        self._summaries: dict[int, ProviderSummary] = {}

    # -- what searches read ---------------------------------------------------

    @property
    def has_trees(self) -> bool:
        """True when any provider has a parent (Placement takes its simpler
        paths only when none has)."""
        return self._children_count > 0

    def _keep_live_masks(self) -> None:
        """Compute what live_roots, live_root_count and live_sharing
        return, once per change of shape."""
        if self._live_roots is not None:
            return
        self._live_roots = self.alive & (self.parent < 0)
        self._live_roots.flags.writeable = False
        self._live_root_count = int(np.count_nonzero(self._live_roots))
        sharing = self.sharing & self.alive
        sharing.flags.writeable = False
        self._live_sharing = sharing if sharing.any() else None

    @property
    def live_roots(self) -> np.ndarray:
        """Mask of the live roots: the hosts. Shared between searches; do
        not change it in place."""
        self._keep_live_masks()
        return self._live_roots

    @property
    def live_root_count(self) -> int:
        """How many hosts the index holds."""
        self._keep_live_masks()
        return self._live_root_count

    @property
    def sharing(self) -> np.ndarray:
        return self.trait_column(SHARING_TRAIT)

    @property
    def live_sharing(self) -> np.ndarray | None:
        """Mask of the live sharing providers, or None when there is none
        (most fleets): kept like live_roots. Do not change it in place."""
        self._keep_live_masks()
        return self._live_sharing

    def trait_column(self, trait: str) -> np.ndarray:
        column = self.trait_columns.get(trait)
        return column if column is not None else np.zeros(self.size, dtype=bool)

    def aggregate_column(self, aggregate: str) -> np.ndarray:
        column = self.aggregate_columns.get(aggregate)
        return column if column is not None else np.zeros(self.size, dtype=bool)

    def any_trait(self, traits: Iterable[str]) -> np.ndarray:
        """Slots holding at least one of ``traits``."""
        mask = np.zeros(self.size, dtype=bool)
        for trait in traits:
            mask |= self.trait_column(trait)
        return mask

    def any_aggregate(self, aggregates: Iterable[str]) -> np.ndarray:
        """Slots in at least one of ``aggregates``."""
        mask = np.zeros(self.size, dtype=bool)
        for aggregate in aggregates:
            mask |= self.aggregate_column(aggregate)
        return mask

    def roots_of(self, slots: np.ndarray) -> np.ndarray:
        """Mask of the roots of ``slots``."""
        mask = np.zeros(self.size, dtype=bool)
        mask[self.root[slots]] = True
        return mask

    def roots_of_mask(self, providers: np.ndarray) -> np.ndarray:
        """Mask of the roots of the live providers in ``providers``."""
        if not self.has_trees:
            # Every provider is its own root: no gather and scatter over
            # the whole fleet.
            return providers & self.alive
        return self.roots_of(np.flatnonzero(providers & self.alive))

    def tree_of(self, root_slot: int) -> Collection[int]:
        """Slots of the tree under ``root_slot``, the root included."""
        members = self.trees.get(root_slot)
        if members is not None:
            return members
        return (root_slot,) if self.alive[root_slot] else ()

    def summary(self, slot: int) -> ProviderSummary:
        """What a search reports of the provider at ``slot``."""
        found = self._summaries.get(slot)
        if found is not None:
            return found
        if len(self._summaries) >= SUMMARIES_KEPT:
            self._summaries.clear()
        # item() answers a Python number, at half the cost of indexing.
        resources = {
            name: ResourceSummary(int(column.capacity.item(slot)), column.used.item(slot))
            for name, column in self.resources.items()
            if column.present.item(slot)
        }
        uuids = self.uuids
        root, parent = self.root.item(slot), self.parent.item(slot)
        found = self._summaries[slot] = ProviderSummary(
            uuid=uuids[slot],
            root_provider_uuid=uuids[root],
            parent_provider_uuid=uuids[parent] if parent >= 0 else None,
            resources=resources,
            traits=self.traits[slot],
        )
        return found

    def uuid(self, slot: int) -> str:
        uuid = self.uuids[slot]
        assert uuid is not None, slot
        return uuid

    # -- keeping it current -------------------------------------------------------

    def replace_all(self, providers: Iterable[ProviderSnapshot]) -> None:
        """Forget everything and load ``providers`` (a complete read)."""
        self.__init__()
        self.apply(providers, ())

    def apply(self, changed: Iterable[ProviderSnapshot], removed: Iterable[str]) -> None:
        """Bring changed providers up to date and drop removed ones."""
        # A provider's summary names its root and parent, which a change of
        # another provider can move or remove.
        self._summaries.clear()
        for uuid in removed:
            slot = self.slot_of.pop(uuid, None)
            if slot is not None:
                self._vacate(slot)
                self._free_slots.append(slot)
        changed = list(changed)
        # Slots first, so that a provider may name a root that comes later
        # in the batch (a re-parented provider older than its new root).
        for snapshot in changed:
            if snapshot.uuid not in self.slot_of:
                self.slot_of[snapshot.uuid] = self._take_slot()
        for snapshot in changed:
            self._store(self.slot_of[snapshot.uuid], snapshot)

    def apply_usages(self, changes: Iterable[UsageChange]) -> None:
        """Bring the usages of providers whose shape did not change up to
        date (a claim, the common change): only their used and free values
        move."""
        for change in changes:
            slot = self.slot_of.get(change.uuid)
            if slot is None:
                # Removed meanwhile (its removal came in the same read).
                continue
            self._summaries.pop(slot, None)
            for name, column in self.resources.items():
                if column.present[slot]:
                    column.use(slot, change.usages.get(name, 0))

    def add_usages(self, allocations: Mapping[str, Mapping[str, int]]) -> None:
        """Add a claim's amounts (provider -> class -> amount) to the
        usages, ahead of the change feed that will report them."""
        for provider, resources in allocations.items():
            slot = self.slot_of.get(provider)
            if slot is None:
                continue
            self._summaries.pop(slot, None)
            for resource_class, amount in resources.items():
                column = self.resources.get(resource_class)
                if column is not None and column.present[slot]:
                    column.use(slot, int(column.used[slot]) + amount)

    def _take_slot(self) -> int:
        if self._free_slots:
            return self._free_slots.pop()
        if self._next_slot == self.size:
            self._grow(self.size * 2)
        slot = self._next_slot
        self._next_slot += 1
        return slot

    def _grow(self, size: int) -> None:
        self._live_roots = None
        old = self.size
        self.size = size
        self.uuids.extend([None] * (size - old))
        self.traits.extend([frozenset()] * (size - old))
        self.aggregates.extend([frozenset()] * (size - old))
        self.alive = _grown(self.alive, size, False)
        self.root = np.concatenate([self.root, np.arange(old, size, dtype=np.int64)])
        self.parent = _grown(self.parent, size, -1)
        for column in self.resources.values():
            column.grow(size)
        for columns in (self.trait_columns, self.aggregate_columns):
            for name, column in columns.items():
                columns[name] = _grown(column, size, False)

    def _vacate(self, slot: int) -> None:
        """Take a provider out of every column; its slot stays allocated."""
        if not self.alive[slot]:
            return
        self._live_roots = None
        self.alive[slot] = False
        self.uuids[slot] = None
        for column in self.resources.values():
            column.clear(slot)
        for trait in self.traits[slot]:
            self.trait_columns[trait][slot] = False
        for aggregate in self.aggregates[slot]:
            self.aggregate_columns[aggregate][slot] = False
        self.traits[slot] = frozenset()
        self.aggregates[slot] = frozenset()
        root = int(self.root[slot])
        members = self.trees.get(root)
        if members is not None:
            members.discard(slot)
            if len(members) <= 1 and members <= {root}:
                # The root alone again (or gone): no set to keep.
                del self.trees[root]
        if self.parent[slot] >= 0:
            self._children_count -= 1
        self.root[slot] = slot
        self.parent[slot] = -1

    def _store(self, slot: int, snapshot: ProviderSnapshot) -> None:
        self._vacate(slot)
        self._live_roots = None
        self.alive[slot] = True
        self.uuids[slot] = snapshot.uuid
        root = self.slot_of[snapshot.root_provider_uuid]
        self.root[slot] = root
        if root != slot:
            self.trees.setdefault(root, {root}).add(slot)
        elif slot in self.trees:
            # A root with children, stored again: back into its own tree.
            self.trees[slot].add(slot)
        if snapshot.parent_provider_uuid is not None:
            self.parent[slot] = self.slot_of[snapshot.parent_provider_uuid]
            self._children_count += 1
        for name, inventory in snapshot.inventories.items():
            column = self.resources.get(name)
            if column is None:
                column = self.resources[name] = ResourceColumn.empty(self.size)
            column.set(slot, inventory, snapshot.usages.get(name, 0))
        self.traits[slot] = self._shared(snapshot.traits)
        self.aggregates[slot] = self._shared(snapshot.aggregates)
        for trait in snapshot.traits:
            self._member_column(self.trait_columns, trait)[slot] = True
        for aggregate in snapshot.aggregates:
            self._member_column(self.aggregate_columns, aggregate)[slot] = True

    def _shared(self, members: frozenset[str]) -> frozenset[str]:
        return self._sets.setdefault(members, members)

    def _member_column(self, columns: dict[str, np.ndarray], name: str) -> np.ndarray:
        column = columns.get(name)
        if column is None:
            column = columns[name] = np.zeros(self.size, dtype=bool)
        return column
