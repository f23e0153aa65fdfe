"""``SqlStore``: the store port over SQLite or PostgreSQL.

Each method is one transaction: reads in ``reading()``, writes in
``writing()``, where the rows a write depends on are locked first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

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
from berth.store.sql import (
    allocations,
    builds,
    bulk,
    catalog,
    changes,
    consumer_counts,
    inventories,
    migrate,
    providers,
    usages,
)
from berth.store.sql.engine import Database

if TYPE_CHECKING:
    from berth.conductor.model import Assignment, Build


class SqlStore:
    def __init__(self, url: str) -> None:
        self.database = Database(url)

    def upgrade(self) -> None:
        migrate.upgrade(self.database)

    def close(self) -> None:
        self.database.dispose()

    # -- resource classes ----------------------------------------------------

    def list_resource_classes(self) -> list[ResourceClass]:
        with self.database.reading() as conn:
            return catalog.list_resource_classes(conn)

    def get_resource_class(self, name: str) -> ResourceClass:
        with self.database.reading() as conn:
            return catalog.get_resource_class(conn, name)

    def create_resource_class(self, name: str) -> ResourceClass:
        with self.database.writing() as conn:
            return catalog.create_resource_class(conn, name)

    def rename_resource_class(self, name: str, new_name: str) -> ResourceClass:
        with self.database.writing() as conn:
            return catalog.rename_resource_class(conn, name, new_name)

    def delete_resource_class(self, name: str) -> None:
        with self.database.writing() as conn:
            catalog.delete_resource_class(conn, name)

    # -- traits --------------------------------------------------------------

    def list_traits(
        self,
        names: Iterable[str] | None = None,
        prefix: str | None = None,
        associated: bool | None = None,
    ) -> list[Trait]:
        with self.database.reading() as conn:
            return catalog.list_traits(conn, names, prefix, associated)

    def get_trait(self, name: str) -> Trait:
        with self.database.reading() as conn:
            return catalog.get_trait(conn, name)

    def ensure_trait(self, name: str) -> tuple[Trait, bool]:
        with self.database.writing() as conn:
            return catalog.ensure_trait(conn, name)

    def delete_trait(self, name: str) -> None:
        with self.database.writing() as conn:
            catalog.delete_trait(conn, name)

    # -- providers -----------------------------------------------------------

    def create_provider(self, uuid: str, name: str, parent_uuid: str | None = None) -> ResourceProvider:
        with self.database.writing() as conn:
            return providers.create_provider(conn, uuid, name, parent_uuid)

    def register_providers(self, registrations: Sequence[ProviderRegistration]) -> None:
        with self.database.writing() as conn:
            bulk.register_providers(conn, list(registrations))

    def get_provider(self, uuid: str) -> ResourceProvider:
        with self.database.reading() as conn:
            return providers.get_provider(conn, uuid).provider

    def list_providers(self, query: ProviderQuery) -> list[ResourceProvider]:
        with self.database.reading() as conn:
            return providers.list_providers(conn, query)

    def update_provider(
        self, uuid: str, name: str, parent_uuid: str | None, allow_reparent: bool
    ) -> ResourceProvider:
        with self.database.writing() as conn:
            return providers.update_provider(conn, uuid, name, parent_uuid, allow_reparent)

    def delete_provider(self, uuid: str) -> None:
        with self.database.writing() as conn:
            providers.delete_provider(conn, uuid)

    # -- cells (berth's own) --------------------------------------------------

    def get_provider_cell(self, uuid: str) -> str | None:
        with self.database.reading() as conn:
            return providers.get_cell(conn, uuid)

    def set_provider_cell(self, uuid: str, cell: str | None) -> None:
        with self.database.writing() as conn:
            providers.set_cell(conn, uuid, cell)

    # -- inventories, traits and aggregates of a provider --------------------

    def get_inventories(self, provider_uuid: str) -> ProviderInventories:
        with self.database.reading() as conn:
            return inventories.read_inventories(conn, providers.get_provider(conn, provider_uuid))

    def replace_inventories(
        self, provider_uuid: str, expected_generation: int, wanted: Mapping[str, Inventory]
    ) -> ProviderInventories:
        with self.database.writing() as conn:
            row = providers.get_provider(conn, provider_uuid, lock=True)
            return inventories.replace_inventories(conn, row, expected_generation, wanted)

    def get_provider_traits(self, provider_uuid: str) -> ProviderTraits:
        with self.database.reading() as conn:
            return inventories.read_traits(conn, providers.get_provider(conn, provider_uuid))

    def set_provider_traits(
        self, provider_uuid: str, expected_generation: int, traits: Iterable[str]
    ) -> ProviderTraits:
        with self.database.writing() as conn:
            row = providers.get_provider(conn, provider_uuid, lock=True)
            return inventories.set_traits(conn, row, expected_generation, traits)

    def get_provider_aggregates(self, provider_uuid: str) -> ProviderAggregates:
        with self.database.reading() as conn:
            return inventories.read_aggregates(conn, providers.get_provider(conn, provider_uuid))

    def set_provider_aggregates(
        self, provider_uuid: str, expected_generation: int | None, aggregates: Iterable[str]
    ) -> ProviderAggregates:
        with self.database.writing() as conn:
            row = providers.get_provider(conn, provider_uuid, lock=True)
            return inventories.set_aggregates(conn, row, expected_generation, aggregates)

    # -- allocations ---------------------------------------------------------

    def get_consumer_allocations(self, consumer_uuid: str) -> ConsumerAllocations:
        with self.database.reading() as conn:
            return allocations.get_consumer_allocations(conn, consumer_uuid)

    def get_provider_allocations(self, provider_uuid: str) -> ProviderAllocations:
        with self.database.reading() as conn:
            row = providers.get_provider(conn, provider_uuid)
            return allocations.get_provider_allocations(conn, row)

    def write_allocations(self, claims: Sequence[ConsumerClaim]) -> None:
        with self.database.writing() as conn:
            allocations.write_allocations(conn, claims)

    def delete_consumer_allocations(self, consumer_uuid: str) -> None:
        with self.database.writing() as conn:
            allocations.delete_consumer_allocations(conn, consumer_uuid)

    def reshape(self, changes: Sequence[InventoryChange], claims: Sequence[ConsumerClaim]) -> None:
        """Placement's order: an interim inventory that is the union of old
        and new (so allocations can move), then the allocations, then the
        final inventory, whose usage check sees the moved allocations."""
        with self.database.writing() as conn:
            rows = providers.lock_providers(conn, {c.provider_uuid for c in changes})
            for change in changes:
                row = rows[change.provider_uuid]
                providers.check_generation(row, change.expected_generation)
                if change.inventories:
                    current = inventories.read_inventories(conn, row).inventories
                    interim = {**current, **change.inventories}
                    inventories.replace_inventories(conn, row, row.generation, interim, check_usage=False)
            allocations.write_allocations(conn, claims)
            for change in changes:
                row = providers.get_provider(conn, change.provider_uuid, lock=True)
                inventories.replace_inventories(conn, row, row.generation, change.inventories)

    # -- usages --------------------------------------------------------------

    def get_provider_usages(self, provider_uuid: str) -> UsageReport:
        with self.database.reading() as conn:
            return usages.provider_usages(conn, providers.get_provider(conn, provider_uuid))

    def get_project_usages(
        self, project_id: str, user_id: str | None = None, consumer_type: str | None = None
    ) -> list[UsageByConsumerType]:
        with self.database.reading() as conn:
            return usages.project_usages(conn, project_id, user_id, consumer_type)

    def count_consumers(self, root_provider_uuids: Iterable[str], consumer_type: str) -> Mapping[str, int]:
        with self.database.reading() as conn:
            return consumer_counts.count_consumers(conn, root_provider_uuids, consumer_type)

    # -- the candidate index's feed -------------------------------------------

    def read_provider_changes(self, cursor: str | None) -> ProviderChanges:
        # After claims only (the usual case between two searches), one
        # statement; otherwise the whole read in one snapshot.
        with self.database.statement() as conn:
            found = changes.read_usage_changes(conn, cursor)
        if found is not None:
            return found
        with self.database.reading(snapshot=True) as conn:
            return changes.read_changes(conn, cursor)

    # -- builds (berth's own) ---------------------------------------------------

    def create_build(self, build: Build) -> Build:
        with self.database.writing() as conn:
            return builds.create_build(conn, build)

    def get_build(self, build_id: str) -> Build:
        with self.database.reading() as conn:
            return builds.get_build(conn, build_id)

    def list_builds(self, limit: int, marker: str | None = None) -> list[Build]:
        with self.database.reading() as conn:
            return builds.list_builds(conn, limit, marker)

    def save_build(self, build: Build) -> Build:
        with self.database.writing() as conn:
            return builds.save_build(conn, build)

    def list_build_work(self, limit: int, now: float | None = None) -> list[Build]:
        with self.database.reading() as conn:
            return builds.list_build_work(conn, limit, now)

    def list_assignments(self, host: str) -> list[Assignment]:
        with self.database.reading() as conn:
            return builds.list_assignments(conn, host)
