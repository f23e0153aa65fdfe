"""The store port: everything berth asks of its database, in domain terms.

A backend (``store/sql``, ``store/cassandra``) implements this protocol and
nothing above ``store/`` knows which one runs. Every method is atomic. Every
write that changes a provider names the provider generation the caller read
and raises ``ConcurrentUpdate`` when it moved; writes of allocations are
compare-and-set on the consumer generations and on every provider touched.
Driver errors never leave a backend: they become ``berth.placement.errors``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from berth.placement.model import (
    ConsumerAllocations,
    ConsumerClaim,
    Inventory,
    InventoryChange,
    ProviderAggregates,
    ProviderAllocations,
    ProviderChanges,
    ProviderInventories,
    ProviderRegistration,
    ProviderTraits,
    ResourceClass,
    ResourceProvider,
    Trait,
    UsageByConsumerType,
    UsageReport,
)
from berth.placement.query import ProviderQuery

if TYPE_CHECKING:
    # Only named in annotations: berth.conductor.model imports the scheduler,
    # which imports this port.
    from berth.conductor.model import Assignment, Build


class Store(Protocol):
    """The port. See the module docstring for the rules every method keeps."""

    # -- lifecycle -----------------------------------------------------------

    def upgrade(self) -> None:
        """Create or migrate the schema and sync the standard names."""

    def close(self) -> None:
        """Release connections."""

    # -- resource classes ----------------------------------------------------

    def list_resource_classes(self) -> list[ResourceClass]: ...

    def get_resource_class(self, name: str) -> ResourceClass:
        """Raises ResourceClassNotFound."""

    def create_resource_class(self, name: str) -> ResourceClass:
        """Raises ResourceClassExists."""

    def rename_resource_class(self, name: str, new_name: str) -> ResourceClass:
        """Raises ResourceClassNotFound, ResourceClassExists, CannotChangeStandard."""

    def delete_resource_class(self, name: str) -> None:
        """Raises ResourceClassNotFound, CannotChangeStandard, ResourceClassInUse."""

    # -- traits --------------------------------------------------------------

    def list_traits(
        self,
        names: Iterable[str] | None = None,
        prefix: str | None = None,
        associated: bool | None = None,
    ) -> list[Trait]:
        """Traits filtered by exact names, a name prefix and whether any
        provider has them."""

    def get_trait(self, name: str) -> Trait:
        """Raises TraitNotFound."""

    def ensure_trait(self, name: str) -> tuple[Trait, bool]:
        """Create a trait unless it exists; the flag says it was created."""

    def delete_trait(self, name: str) -> None:
        """Raises TraitNotFound, CannotChangeStandard, TraitInUse."""

    # -- providers -----------------------------------------------------------

    def create_provider(
        self, uuid: str, name: str, parent_uuid: str | None = None
    ) -> ResourceProvider:
        """Raises ProviderExists, DuplicateProviderName, ResourceProviderNotFound
        (for the parent)."""

    def register_providers(self, registrations: Sequence[ProviderRegistration]) -> None:
        """Create many new providers with their inventories, traits and
        aggregates, all or nothing. Raises ProviderExists,
        DuplicateProviderName, InvalidParent, ResourceClassNotFound,
        TraitNotFound, InvalidInventory."""

    def get_provider(self, uuid: str) -> ResourceProvider:
        """Raises ResourceProviderNotFound."""

    def list_providers(self, query: ProviderQuery) -> list[ResourceProvider]: ...

    def update_provider(
        self,
        uuid: str,
        name: str,
        parent_uuid: str | None,
        allow_reparent: bool,
    ) -> ResourceProvider:
        """Rename and (re/un-)parent. Without ``allow_reparent`` (before 1.37)
        only setting a parent on a root is allowed. Raises
        ResourceProviderNotFound, DuplicateProviderName, InvalidParent."""

    def delete_provider(self, uuid: str) -> None:
        """Raises ResourceProviderNotFound, CannotDeleteParent, ProviderInUse."""

    # -- cells (berth's own, not Placement's) ----------------------------------

    def get_provider_cell(self, uuid: str) -> str | None:
        """The cell the provider belongs to, ``None`` when it has none.
        Raises ResourceProviderNotFound."""

    def set_provider_cell(self, uuid: str, cell: str | None) -> None:
        """Put the provider in ``cell`` (``None``: in no cell). Not guarded
        by, and does not bump, the provider generation: the cell is where a
        provider is, not what it holds, and an agent re-reporting it must
        not make Placement writes conflict. It is a change for the change
        feed (``read_provider_changes`` reports the provider again, with
        ``ProviderSnapshot.cell``). ``register_providers`` stores
        ``ProviderRegistration.cell`` the same way. Raises
        ResourceProviderNotFound."""

    # -- inventories ---------------------------------------------------------

    def get_inventories(self, provider_uuid: str) -> ProviderInventories: ...

    def replace_inventories(
        self,
        provider_uuid: str,
        expected_generation: int,
        inventories: Mapping[str, Inventory],
    ) -> ProviderInventories:
        """Set the provider's whole inventory. Raises ConcurrentUpdate,
        ResourceClassNotFound, InventoryInUse (a class with allocations
        removed, or capacity below usage)."""

    # -- traits and aggregates of a provider ---------------------------------

    def get_provider_traits(self, provider_uuid: str) -> ProviderTraits: ...

    def set_provider_traits(
        self, provider_uuid: str, expected_generation: int, traits: Iterable[str]
    ) -> ProviderTraits:
        """Raises ConcurrentUpdate, TraitNotFound."""

    def get_provider_aggregates(self, provider_uuid: str) -> ProviderAggregates: ...

    def set_provider_aggregates(
        self,
        provider_uuid: str,
        expected_generation: int | None,
        aggregates: Iterable[str],
    ) -> ProviderAggregates:
        """With a generation (1.19+) the write is checked and bumps it; with
        ``None`` (before 1.19) it neither checks nor bumps."""

    # -- allocations ---------------------------------------------------------

    def get_consumer_allocations(self, consumer_uuid: str) -> ConsumerAllocations: ...

    def get_provider_allocations(self, provider_uuid: str) -> ProviderAllocations: ...

    def write_allocations(self, claims: Sequence[ConsumerClaim]) -> None:
        """Replace the allocations of every consumer named, all or nothing.

        Raises ResourceProviderNotFound, ResourceClassNotFound,
        NoInventoryForAllocation, UnitConstraintsViolated, CapacityExceeded
        and ConcurrentUpdate (a consumer generation moved).
        """

    def delete_consumer_allocations(self, consumer_uuid: str) -> None:
        """Raises NotFound when the consumer holds nothing."""

    def reshape(
        self,
        inventories: Sequence[InventoryChange],
        claims: Sequence[ConsumerClaim],
    ) -> None:
        """Change inventories and allocations in one transaction."""

    # -- usages --------------------------------------------------------------

    def get_provider_usages(self, provider_uuid: str) -> UsageReport: ...

    def get_project_usages(
        self,
        project_id: str,
        user_id: str | None = None,
        consumer_type: str | None = None,
    ) -> list[UsageByConsumerType]:
        """A project's (and user's) usages, one entry per consumer type."""

    def count_consumers(self, root_provider_uuids: Iterable[str], consumer_type: str) -> Mapping[str, int]:
        """For each root provider named, how many consumers of
        ``consumer_type`` hold allocations on providers of its tree (a
        consumer counts once per tree; sharing providers outside the tree
        do not count). Every uuid named is a key: 0 when nothing of that
        type is there, or no such root provider exists. The scheduler's
        max_instances_per_host reads it for the hosts of one search."""

    # -- the candidate index's feed -------------------------------------------

    def read_provider_changes(self, cursor: str | None) -> ProviderChanges:
        """Providers (with inventories, usages, traits, aggregates and cell) that
        changed since ``cursor``, all of them when ``cursor`` is ``None`` or
        the backend can no longer tell what changed since it. Cheap when
        nothing changed: the candidate index calls it before every search.
        A change is anything that moves a provider's generation, its name,
        parent, traits, aggregates, inventories or usages, and the renaming
        or deletion of a resource class (which the backend may answer with a
        complete read)."""

    # -- builds (berth's own: berth/conductor/) ---------------------------------

    def create_build(self, build: Build) -> Build:
        """Keep a new build; it is answered at version 1. Raises BuildExists."""

    def get_build(self, build_id: str) -> Build:
        """Raises BuildNotFound."""

    def list_builds(self, limit: int, marker: str | None = None) -> list[Build]:
        """Up to ``limit`` builds in the order they were created, from the
        one after ``marker``. Raises BuildNotFound for an unknown marker."""

    def save_build(self, build: Build) -> Build:
        """Replace the build if the stored version is still
        ``build.version`` (compare-and-set); answers it at the next
        version. Raises ConcurrentUpdate when the version moved,
        BuildNotFound."""

    def list_build_work(self, limit: int, now: float | None = None) -> list[Build]:
        """Up to ``limit`` builds that wait for a conductor
        (``Build.needs_conductor``), oldest first; given ``now``, also those
        with an attempt whose deadline passed (``Build.next_deadline``)."""

    def list_assignments(self, host: str) -> list[Assignment]:
        """The attempts building on ``host`` (a root provider) now."""
