"""Hosts as the filters and weighers see them, built from one candidate
search, and the local ledger that lets later instances of a request see
the earlier ones' claims.

A host is the root provider of a tree that a candidate is anchored at. Its
free capacity per class is summed over the providers of its tree that the
search summarised; its allocation requests are the ways the search found
to place one instance on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import msgspec
import numpy as np

from berth.placement.candidates.index import SHARING_TRAIT, CandidateIndex
from berth.placement.candidates.result import AllocationRequest, CandidateResult, ResourceSummary
from berth.placement.model import ProviderSnapshot


class Ledger:
    """Capacity and usage per provider and class, for one request.

    Reads the search's provider summaries in place (they are immutable)
    and keeps apart what instances of this request take (``consume``), so
    that the next instance is judged against both; the store checks again
    when the claim is written. Copying every summary into dicts of its own
    cost more than the rest of building the hosts.
    """

    def __init__(self) -> None:
        self.resources: dict[str, Mapping[str, ResourceSummary]] = {}
        # What this request's instances take, per provider and class.
        self.taken: dict[str, dict[str, int]] = {}
        # False until an instance of the request is added (consume).
        self.consumed = False
        # Sharing providers: the only ones several hosts' requests can use.
        self.sharing: set[str] = set()

    def add_summary(self, uuid: str, resources: Mapping[str, ResourceSummary]) -> None:
        self.resources[uuid] = resources

    def add_provider(self, uuid: str, capacity: Mapping[str, int], used: Mapping[str, int]) -> None:
        self.resources[uuid] = {rc: ResourceSummary(total, used.get(rc, 0)) for rc, total in capacity.items()}

    def _short(self, provider: str, resources: Mapping[str, int]) -> str | None:
        """The first class of ``resources`` that ``provider`` cannot give."""
        held = self.resources.get(provider, {})
        taken = self.taken.get(provider)
        for rc, amount in resources.items():
            summary = held.get(rc)
            if summary is None:
                if amount > 0:
                    return rc
                continue
            extra = taken.get(rc, 0) if taken else 0
            if summary.used + extra + amount > summary.capacity:
                return rc
        return None

    def fits(self, allocation: AllocationRequest) -> bool:
        for provider, resources in allocation.allocations.items():
            if provider not in self.resources or self._short(provider, resources) is not None:
                return False
        return True

    def short_of(self, allocation: AllocationRequest) -> str | None:
        """The first class that does not fit, as ``CLASS``, or None."""
        for provider, resources in allocation.allocations.items():
            short = self._short(provider, resources)
            if short is not None:
                return short
        return None

    def consume(self, allocation: AllocationRequest) -> None:
        self.consumed = True
        for provider, resources in allocation.allocations.items():
            taken = self.taken.setdefault(provider, {})
            for rc, amount in resources.items():
                taken[rc] = taken.get(rc, 0) + amount

    def free(self, providers: Iterable[str], resource_class: str) -> int:
        total = 0
        resources, taken = self.resources, self.taken
        for provider in providers:
            held = resources.get(provider)
            summary = held.get(resource_class) if held is not None else None
            if summary is not None:
                total += summary.capacity - summary.used
                if taken:  # only once an instance of the request is placed
                    mine = taken.get(provider)
                    if mine:
                        total -= mine.get(resource_class, 0)
        return total


@dataclasses.dataclass(eq=False, slots=True)
class HostState:
    """One host for the length of one request."""

    uuid: str
    cell: str | None
    traits: frozenset[str]
    aggregates: frozenset[str]
    # Providers of the host's tree that the search summarised.
    tree: tuple[str, ...]
    # Ways to place one instance here, in the search's order.
    allocation_requests: list[AllocationRequest]
    ledger: Ledger

    def fitting_request(self) -> AllocationRequest | None:
        """The first allocation request that still fits the ledger."""
        for allocation in self.allocation_requests:
            if self.ledger.fits(allocation):
                return allocation
        return None


class HostAttributes(msgspec.Struct, frozen=True):
    """What the scheduler knows about a root provider beyond the search's
    summaries: its cell and aggregates."""

    cell: str | None
    aggregates: frozenset[str]


class HostIndex(CandidateIndex):
    """The candidate index plus each provider's cell, fed by the same change
    feed at the same moment (CandidateIndex.replace_all re-runs __init__
    and then apply, so both entry points are covered by these two). Cells
    are also a column of codes over the slots, so that a cell hint is a
    mask for the search rather than a filter over the hosts it found."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, str] = {}
        self.cell_codes: dict[str, int] = {}
        # Per slot, the code of its provider's cell; -1 for none.
        self.cell_column = np.full(self.size, -1, dtype=np.int32)
        # Kept until the next apply (a claim changes neither).
        self._cell_masks: dict[int, np.ndarray] = {}
        self._attributes: dict[str, HostAttributes] = {}

    def _grow(self, size: int) -> None:
        super()._grow(size)
        grown = np.full(size, -1, dtype=np.int32)
        grown[: len(self.cell_column)] = self.cell_column
        self.cell_column = grown

    def apply(self, changed: Iterable[ProviderSnapshot], removed: Iterable[str]) -> None:
        changed, removed = list(changed), list(removed)
        self._cell_masks.clear()
        self._attributes.clear()
        for uuid in removed:
            slot = self.slot_of.get(uuid)
            if slot is not None:
                self.cell_column[slot] = -1
        super().apply(changed, removed)
        for uuid in removed:
            self.cells.pop(uuid, None)
        for snapshot in changed:
            slot = self.slot_of[snapshot.uuid]
            if snapshot.cell is None:
                self.cells.pop(snapshot.uuid, None)
                self.cell_column[slot] = -1
            else:
                self.cells[snapshot.uuid] = snapshot.cell
                code = self.cell_codes.setdefault(snapshot.cell, len(self.cell_codes))
                self.cell_column[slot] = code

    def in_cell(self, cell: str) -> np.ndarray:
        """Mask of the live providers in ``cell``. Shared between searches;
        do not change it in place."""
        code = self.cell_codes.get(cell)
        if code is None:
            return np.zeros(self.size, dtype=bool)
        mask = self._cell_masks.get(code)
        if mask is None:
            mask = self._cell_masks[code] = (self.cell_column == code) & self.alive
            mask.flags.writeable = False
        return mask

    def attributes(self, uuid: str) -> HostAttributes:
        found = self._attributes.get(uuid)
        if found is None:
            slot = self.slot_of.get(uuid)
            aggregates = self.aggregates[slot] if slot is not None else frozenset()
            found = self._attributes[uuid] = HostAttributes(self.cells.get(uuid), aggregates)
        return found


def free_capacities(hosts: Sequence[HostState], resource_class: str) -> list[float]:
    """Each host's free capacity of ``resource_class``, summed over the
    providers of its tree the search summarised, less what this request's
    instances take (the free-capacity weighers' raw values)."""
    return [float(host.ledger.free(host.tree, resource_class)) for host in hosts]


# A host the index no longer has attributes for: no cell, no aggregates.
_UNKNOWN = HostAttributes(None, frozenset())


def _host_of(allocation: AllocationRequest, roots: Mapping[str, str], sharing: set[str]) -> str:
    """The root a candidate is anchored at: the root of a provider that is
    not a sharing provider (sharing providers are roots of their own)."""
    for provider in allocation.allocations:
        if provider not in sharing:
            return roots[provider]
    return roots[next(iter(allocation.allocations))]


def build_hosts(result: CandidateResult, attributes: Mapping[str, HostAttributes]) -> list[HostState]:
    """HostStates from one search, in the order of the search's candidates."""
    ledger = Ledger()
    roots: dict[str, str] = {}
    trees: dict[str, list[str]] = {}
    traits: dict[str, frozenset[str]] = {}
    sharing: set[str] = set()
    for summary in result.provider_summaries:
        uuid, root = summary.uuid, summary.root_provider_uuid
        ledger.add_summary(uuid, summary.resources)
        roots[uuid] = root
        tree = trees.get(root)
        if tree is None:
            trees[root] = [uuid]
        else:
            tree.append(uuid)
        traits[uuid] = summary.traits
        if SHARING_TRAIT in summary.traits:
            sharing.add(uuid)
    ledger.sharing = sharing
    hosts: dict[str, HostState] = {}
    no_traits: frozenset[str] = frozenset()
    for allocation in result.allocation_requests:
        root = _host_of(allocation, roots, sharing)
        host = hosts.get(root)
        if host is None:
            found = attributes.get(root, _UNKNOWN)
            host = hosts[root] = HostState(
                root, found.cell, traits.get(root, no_traits), found.aggregates,
                tuple(trees.get(root, (root,))), [], ledger,
            )
        host.allocation_requests.append(allocation)
    return list(hosts.values())
