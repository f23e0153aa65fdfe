"""``CassandraStore``: the store port over Apache Cassandra.

Every method is atomic in the sense the port asks for: single-partition
writes are one lightweight transaction, claims are the transaction protocol
of ``claims.py``. Driver errors become ``StoreUnavailable`` (a BerthError)
in ``session.py``; nothing above this package sees the driver.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from berth.placement import errors
from berth.placement.model import (
    NOT_CHECKED,
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
from berth.store.cassandra import builds, bulk, catalog, changes, consumer_counts, inventories, providers, reads, schema
from berth.store.cassandra.claims import ClaimWriter, read_consumer
from berth.store.cassandra.session import Connection
from berth.store.cassandra.url import CassandraUrl

if TYPE_CHECKING:
    from berth.conductor.model import Assignment, Build

log = logging.getLogger(__name__)

# Seconds between two passes of the reaper in one process; each pass is a
# scan of the (small) table of in-flight claims.
REAP_INTERVAL_S = 10.0
# Seconds ``close`` waits for a reaper pass still running.
REAPER_JOIN_S = 15.0


class CassandraStore:
    def __init__(self, url: str) -> None:
        self.url = CassandraUrl.parse(url)
        self.conn = Connection(self.url)
        self.locator = providers.Locator(self.conn)
        self.claims = ClaimWriter(self.conn, self.locator)
        self._last_reap = 0.0
        self._reap_lock = threading.Lock()
        self._reaper: threading.Thread | None = None

    def upgrade(self) -> None:
        schema.upgrade(self.conn)

    def close(self) -> None:
        with self._reap_lock:
            reaper = self._reaper
        if reaper is not None:
            reaper.join(REAPER_JOIN_S)
        self.conn.close()

    # -- resource classes ----------------------------------------------------

    def list_resource_classes(self) -> list[ResourceClass]:
        return catalog.list_resource_classes(self.conn)

    def get_resource_class(self, name: str) -> ResourceClass:
        return catalog.get_resource_class(self.conn, name)

    def create_resource_class(self, name: str) -> ResourceClass:
        return catalog.create_resource_class(self.conn, name)

    def rename_resource_class(self, name: str, new_name: str) -> ResourceClass:
        return catalog.rename_resource_class(self.conn, name, new_name)

    def delete_resource_class(self, name: str) -> None:
        catalog.delete_resource_class(self.conn, name)

    # -- traits --------------------------------------------------------------

    def list_traits(
        self, names: Iterable[str] | None = None, prefix: str | None = None, associated: bool | None = None
    ) -> list[Trait]:
        return catalog.list_traits(self.conn, names, prefix, associated)

    def get_trait(self, name: str) -> Trait:
        return catalog.get_trait(self.conn, name)

    def ensure_trait(self, name: str) -> tuple[Trait, bool]:
        return catalog.ensure_trait(self.conn, name)

    def delete_trait(self, name: str) -> None:
        catalog.delete_trait(self.conn, name)

    # -- providers -----------------------------------------------------------

    def create_provider(self, uuid: str, name: str, parent_uuid: str | None = None) -> ResourceProvider:
        return providers.create_provider(self.conn, self.locator, uuid, name, parent_uuid)

    def register_providers(self, registrations: Sequence[ProviderRegistration]) -> None:
        bulk.register_providers(self.conn, self.locator, list(registrations))

    def get_provider(self, uuid: str) -> ResourceProvider:
        return providers.get_row(self.conn, self.locator, uuid).provider

    def list_providers(self, query: ProviderQuery) -> list[ResourceProvider]:
        return providers.list_providers(self.conn, self.locator, query)

    def get_provider_cell(self, uuid: str) -> str | None:
        return providers.get_row(self.conn, self.locator, uuid).cell

    def set_provider_cell(self, uuid: str, cell: str | None) -> None:
        providers.set_cell(self.conn, self.locator, uuid, cell)

    def update_provider(
        self, uuid: str, name: str, parent_uuid: str | None, allow_reparent: bool
    ) -> ResourceProvider:
        self._maybe_reap()  # finishes re-parentings whose mover died, too
        return providers.update_provider(self.conn, self.locator, uuid, name, parent_uuid, allow_reparent)

    def delete_provider(self, uuid: str) -> None:
        providers.delete_provider(self.conn, self.locator, uuid)

    # -- inventories, traits and aggregates of a provider --------------------

    def get_inventories(self, provider_uuid: str) -> ProviderInventories:
        return inventories.read_inventories(self.conn, self.locator, provider_uuid)

    def replace_inventories(
        self, provider_uuid: str, expected_generation: int, wanted: Mapping[str, Inventory]
    ) -> ProviderInventories:
        return inventories.replace_inventories(self.conn, self.locator, provider_uuid, expected_generation, wanted)

    def get_provider_traits(self, provider_uuid: str) -> ProviderTraits:
        return inventories.read_traits(self.conn, self.locator, provider_uuid)

    def set_provider_traits(self, provider_uuid: str, expected_generation: int, traits: Iterable[str]) -> ProviderTraits:
        return inventories.set_traits(self.conn, self.locator, provider_uuid, expected_generation, traits)

    def get_provider_aggregates(self, provider_uuid: str) -> ProviderAggregates:
        return inventories.read_aggregates(self.conn, self.locator, provider_uuid)

    def set_provider_aggregates(
        self, provider_uuid: str, expected_generation: int | None, aggregates: Iterable[str]
    ) -> ProviderAggregates:
        return inventories.set_aggregates(self.conn, self.locator, provider_uuid, expected_generation, aggregates)

    # -- allocations ---------------------------------------------------------

    def get_consumer_allocations(self, consumer_uuid: str) -> ConsumerAllocations:
        return reads.consumer_allocations(self.conn, self.locator, consumer_uuid)

    def get_provider_allocations(self, provider_uuid: str) -> ProviderAllocations:
        return reads.provider_allocations(self.conn, self.locator, provider_uuid)

    def write_allocations(self, claims: Sequence[ConsumerClaim]) -> None:
        self._maybe_reap()
        self.claims.write(claims)

    def delete_consumer_allocations(self, consumer_uuid: str) -> None:
        self._maybe_reap()
        state = read_consumer(self.conn, consumer_uuid)
        if not state.exists or state.placeholder or not state.allocations:
            raise errors.NotFound(f"No allocations for consumer '{consumer_uuid}'")
        self.claims.write([ConsumerClaim(consumer_uuid, "", "", {}, NOT_CHECKED)])

    def reshape(self, changes_: Sequence[InventoryChange], claims: Sequence[ConsumerClaim]) -> None:
        """The inventories and the allocations in one conditional batch on
        their tree partition (a reshape over several trees is refused; see
        claims.ReshapeAcrossTrees)."""
        self._maybe_reap()
        self.claims.write(claims, inventory_changes=changes_)

    # -- usages --------------------------------------------------------------

    def get_provider_usages(self, provider_uuid: str) -> UsageReport:
        return reads.provider_usages(self.conn, self.locator, provider_uuid)

    def get_project_usages(
        self, project_id: str, user_id: str | None = None, consumer_type: str | None = None
    ) -> list[UsageByConsumerType]:
        return reads.project_usages(self.conn, project_id, user_id, consumer_type)

    def count_consumers(self, root_provider_uuids: Iterable[str], consumer_type: str) -> Mapping[str, int]:
        return consumer_counts.count_consumers(self.conn, self.locator, root_provider_uuids, consumer_type)

    # -- the candidate index's feed -------------------------------------------

    def read_provider_changes(self, cursor: str | None) -> ProviderChanges:
        return changes.read_changes(
            self.conn, cursor, lambda uuids: reads.snapshots(self.conn, self.locator, uuids)
        )

    # -- builds (berth's own) ---------------------------------------------------

    def create_build(self, build: Build) -> Build:
        return builds.create_build(self.conn, build)

    def get_build(self, build_id: str) -> Build:
        return builds.get_build(self.conn, build_id)

    def list_builds(self, limit: int, marker: str | None = None) -> list[Build]:
        return builds.list_builds(self.conn, limit, marker)

    def save_build(self, build: Build) -> Build:
        return builds.save_build(self.conn, build)

    def list_build_work(self, limit: int, now: float | None = None) -> list[Build]:
        return builds.list_build_work(self.conn, limit, now)

    def list_assignments(self, host: str) -> list[Assignment]:
        return builds.list_assignments(self.conn, host)

    # -- the reaper ------------------------------------------------------------

    def reap(self) -> int:
        """Finish abandoned claims now; see claims.ClaimWriter.reap."""
        return self.claims.reap()

    def _maybe_reap(self) -> None:
        """Start a reaper pass in the background, at most every
        REAP_INTERVAL_S. A claim never waits for it: the pass begins with a
        range scan of ``claim_tx``, and a range read has no speculative
        retry, so while a killed node is not yet convicted by the others
        (about 20 s) a scan that picked it as a replica waits for the full
        read timeout and fails; inline, that failed the claim with a 503."""
        now = time.monotonic()
        with self._reap_lock:
            if now - self._last_reap < REAP_INTERVAL_S or (self._reaper is not None and self._reaper.is_alive()):
                return
            self._last_reap = now
            self._reaper = threading.Thread(target=self._reap_in_background, name="berth-reaper", daemon=True)
            self._reaper.start()

    def _reap_in_background(self) -> None:
        try:
            self.claims.reap()
        except errors.BerthError as exc:  # the next pass tries again
            log.warning("a reaper pass failed: %s", exc)
