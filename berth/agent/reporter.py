"""Makes berth hold the host's provider tree, and keeps it so.

``TreeReporter.sync`` reads the tree under the compute node in one request
and brings every planned provider to its plan: creates it when missing
(parents first, so a tree deleted behind the agent's back comes back),
then converges its inventories, traits and aggregates, each write naming
the generation it read. A 409 ``placement.concurrent_update`` means
someone else wrote in between: the provider is read again and the round
starts over.

What the agent owns, and what it leaves to others:
- inventories of its providers: exactly the plan;
- traits and aggregates: it adds its own and never removes others', so an
  operator's ``COMPUTE_STATUS_DISABLED`` or host aggregate survives;
- the cell of the compute node, when the configuration names one;
- providers under its compute node that it did not plan (another service's,
  such as a network agent's) are left alone.

A provider whose generation has not moved since the agent last saw it match
the plan is not read again; the generation moves on every change to its
inventories, traits or aggregates, so a periodic sync of an unchanged tree
costs two requests.
"""

from __future__ import annotations

import dataclasses
import logging

from os_resource_classes import STANDARDS as STANDARD_CLASSES

from berth.agent.client import BerthClient, ConcurrentUpdate, Conflict, ProviderRecord, Refused
from berth.agent.tree import ProviderSpec, ProviderTree

log = logging.getLogger(__name__)

_STANDARD_CLASSES = frozenset(STANDARD_CLASSES)


class TreeNotConverged(Exception):
    """Others kept writing a provider; the next sync tries again."""


@dataclasses.dataclass(frozen=True, slots=True)
class SyncReport:
    """What one sync did, by provider uuid."""

    created: tuple[str, ...]
    written: tuple[str, ...]
    # Providers whose plan could not be written (logged); tried next sync.
    failed: tuple[str, ...]
    # Rounds started over because a generation moved under a write.
    conflicts: int
    cell_written: bool


@dataclasses.dataclass
class _Round:
    """One round of bringing a provider to its plan."""

    generation: int | None = None
    wrote: bool = False
    inventory_refused: Conflict | None = None


@dataclasses.dataclass
class _Tally:
    created: list[str] = dataclasses.field(default_factory=list)
    written: list[str] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)
    conflicts: int = 0


class TreeReporter:
    def __init__(self, client: BerthClient, tree: ProviderTree, max_rounds: int = 10) -> None:
        self.client = client
        self.tree = tree
        self.max_rounds = max_rounds
        # Provider uuid -> the generation at which it last matched the plan.
        self._matched_at: dict[str, int] = {}

    def sync(self) -> SyncReport:
        tally = _Tally()
        existing = {record.uuid: record for record in self.client.list_tree(self.tree.root.uuid)}
        for spec in self.tree.providers:
            try:
                self._sync_provider(spec, existing.get(spec.uuid), tally)
            except (TreeNotConverged, Refused) as exc:
                # A child of a provider that failed fails too; the next sync
                # tries the whole tree again.
                log.warning("provider %s (%s) not brought to its plan: %s", spec.name, spec.uuid, exc)
                tally.failed.append(spec.uuid)
        cell_written = self._sync_cell()
        return SyncReport(
            tuple(tally.created), tuple(tally.written), tuple(tally.failed),
            tally.conflicts, cell_written,
        )

    def _sync_provider(self, spec: ProviderSpec, record: ProviderRecord | None, tally: _Tally) -> None:
        if record is None:
            record = self._create(spec)
            tally.created.append(spec.uuid)
            self._matched_at.pop(spec.uuid, None)
        if self._matched_at.get(spec.uuid) != record.generation:
            self._converge(spec, tally)

    def _create(self, spec: ProviderSpec) -> ProviderRecord:
        try:
            return self.client.create_provider(spec.uuid, spec.name, spec.parent_uuid)
        except Conflict:
            # Our uuid may have been created by an earlier try whose answer
            # was lost. Anything else (the name is another provider's) is for
            # an operator to sort out, and is raised.
            record = self.client.get_provider(spec.uuid)
            if record is None:
                raise
            return record

    def _converge(self, spec: ProviderSpec, tally: _Tally) -> None:
        rounds = [self._round(spec)]
        while rounds[-1].generation is None and len(rounds) < self.max_rounds:
            rounds.append(self._round(spec))
        tally.conflicts += sum(r.generation is None for r in rounds)
        if any(r.wrote for r in rounds):
            tally.written.append(spec.uuid)
        last = rounds[-1]
        if last.generation is None:
            raise TreeNotConverged(f"the generation moved on each of {self.max_rounds} rounds")
        if last.inventory_refused is not None:
            raise last.inventory_refused
        self._matched_at[spec.uuid] = last.generation

    def _round(self, spec: ProviderSpec) -> _Round:
        outcome = _Round()
        try:
            self._converge_once(spec, outcome)
        except ConcurrentUpdate:
            outcome.generation = None
        return outcome

    def _converge_once(self, spec: ProviderSpec, outcome: _Round) -> None:
        """Read and write the three parts against one chain of generations;
        ``outcome.generation`` ends as the generation at which all three were
        read or written, None when another writer moved it in between."""
        inventories = self.client.get_inventories(spec.uuid)
        expected = inventories.generation
        wanted_inventories = {rc: inventory.as_body() for rc, inventory in spec.inventories.items()}
        if inventories.value != wanted_inventories:
            self._ensure_resource_classes(wanted_inventories)
            try:
                expected = self.client.put_inventories(spec.uuid, expected, wanted_inventories)
                outcome.wrote = True
            except ConcurrentUpdate:
                raise
            except Conflict as refused:
                # Typically a total below what is allocated: berth keeps the
                # old one. The traits and aggregates are still written.
                outcome.inventory_refused = refused

        traits = self.client.get_traits(spec.uuid)
        if traits.generation != expected:
            return
        if not spec.traits <= traits.value:
            self._ensure_traits(spec.traits - traits.value)
            expected = self.client.put_traits(spec.uuid, expected, traits.value | spec.traits)
            outcome.wrote = True

        aggregates = self.client.get_aggregates(spec.uuid)
        if aggregates.generation != expected:
            return
        if not spec.aggregates <= aggregates.value:
            expected = self.client.put_aggregates(
                spec.uuid, expected, aggregates.value | spec.aggregates
            )
            outcome.wrote = True
        outcome.generation = expected

    def _ensure_resource_classes(self, inventories: dict[str, dict]) -> None:
        for resource_class in inventories:
            if resource_class not in _STANDARD_CLASSES:
                self.client.ensure_resource_class(resource_class)

    def _ensure_traits(self, traits: frozenset[str]) -> None:
        # Custom traits must exist before a provider can have them; standard
        # ones always do. Ensured when about to be written, not once per
        # process, so a custom trait deleted meanwhile is created again.
        for trait in sorted(traits):
            if trait.startswith("CUSTOM_"):
                self.client.ensure_trait(trait)

    def _sync_cell(self) -> bool:
        """The cell is not guarded by the generation: read it and put it."""
        if self.tree.cell is None:
            return False
        root = self.tree.root.uuid
        if self.client.get_cell(root) == self.tree.cell:
            return False
        self.client.put_cell(root, self.tree.cell)
        return True
