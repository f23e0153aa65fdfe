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

from berth.agent.client import BerthClient, ConcurrentUpdate, ProviderRecord, Refused
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
        for _ in range(self.max_rounds):
            try:
                generation, wrote = self._converge_once(spec)
            except ConcurrentUpdate:
                generation = None
            if generation is not None:
                self._matched_at[spec.uuid] = generation
                if wrote:
                    tally.written.append(spec.uuid)
                return
            tally.conflicts += 1
        raise TreeNotConverged(f"the generation moved on each of {self.max_rounds} rounds")

    def _converge_once(self, spec: ProviderSpec) -> tuple[int | None, bool]:
        """Read and write the three parts against one chain of generations.
        Returns the generation at which all three matched the plan (None when
        another writer moved it between two reads) and whether we wrote."""
        wrote = False
        inventories = self.client.get_inventories(spec.uuid)
        expected = inventories.generation
        wanted_inventories = {rc: inventory.as_body() for rc, inventory in spec.inventories.items()}
        if inventories.value != wanted_inventories:
            self._ensure_resource_classes(wanted_inventories)
            expected = self.client.put_inventories(spec.uuid, expected, wanted_inventories)
            wrote = True

        traits = self.client.get_traits(spec.uuid)
        if traits.generation != expected:
            return None, wrote
        if not spec.traits <= traits.value:
            self._ensure_traits(spec.traits - traits.value)
            expected = self.client.put_traits(spec.uuid, expected, traits.value | spec.traits)
            wrote = True

        aggregates = self.client.get_aggregates(spec.uuid)
        if aggregates.generation != expected:
            return None, wrote
        if not spec.aggregates <= aggregates.value:
            expected = self.client.put_aggregates(
                spec.uuid, expected, aggregates.value | spec.aggregates
            )
            wrote = True
        return expected, wrote

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
