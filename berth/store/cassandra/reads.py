"""Reads of allocations, usages and provider snapshots (for the change feed)."""

from __future__ import annotations

import collections
from collections.abc import Iterable

from berth.placement.model import (
    UNKNOWN_CONSUMER_TYPE,
    Consumer,
    ConsumerAllocations,
    ConsumerUsage,
    ProviderAllocation,
    ProviderAllocations,
    ProviderSnapshot,
    UsageByConsumerType,
    UsageReport,
)
from berth.placement import errors
from berth.store.cassandra import catalog, providers, trees
from berth.store.cassandra.claims import SELECT_CONSUMER
from berth.store.cassandra.providers import Locator
from berth.store.cassandra.session import Connection, as_utc
from berth.store.cassandra.trees import Partition


def _consumer_row(conn: Connection, uuid: str):
    rows = conn.execute(SELECT_CONSUMER, (uuid,))
    if not rows or rows[0].placeholder:
        return None
    return rows[0]


def consumer_allocations(conn: Connection, locator: Locator, uuid: str) -> ConsumerAllocations:
    row = _consumer_row(conn, uuid)
    if row is None:
        return ConsumerAllocations(consumer=None, allocations=())
    names = catalog.read_classes(conn).by_id
    consumer = Consumer(
        uuid=row.uuid,
        project_id=row.project,
        user_id=row.user,
        generation=row.generation,
        consumer_type=row.consumer_type or UNKNOWN_CONSUMER_TYPE,
    )
    held = row.allocations or {}
    rows = providers.rows_of(conn, locator, held)
    allocations = tuple(
        ProviderAllocation(rows[rp].provider, {names[rc]: amount for rc, amount in resources.items()})
        for rp, resources in held.items()
        if rp in rows
    )
    return ConsumerAllocations(consumer, allocations, as_utc(row.updated_at or row.created_at))


def provider_allocations(conn: Connection, locator: Locator, uuid: str) -> ProviderAllocations:
    partition = trees.read_partition(conn, locator.get(uuid), serial=False)
    row = partition.providers.get(uuid)
    if row is None:
        raise errors.ResourceProviderNotFound(uuid)
    names = catalog.read_classes(conn).by_id
    by_consumer: dict[str, dict[str, int]] = collections.defaultdict(lambda: collections.Counter())
    changed = []
    for a in partition.allocations:
        if a.provider == uuid and a.counts_as_usage:
            by_consumer[a.consumer][names.get(a.rc, str(a.rc))] += a.used
            changed.append(a.changed_at)
    usages = []
    for consumer, resources in by_consumer.items():
        state = conn.execute("SELECT generation FROM {ks}.consumers WHERE uuid = ?", (consumer,))
        usages.append(ConsumerUsage(consumer, dict(resources), state[0].generation if state else 0))
    changed = [c for c in changed if c]
    return ProviderAllocations(row.provider, tuple(usages), max(changed) if changed else None)


def provider_usages(conn: Connection, locator: Locator, uuid: str) -> UsageReport:
    partition = trees.read_partition(conn, locator.get(uuid), serial=False)
    if uuid not in partition.providers:
        raise errors.ResourceProviderNotFound(uuid)
    names = catalog.read_classes(conn).by_id
    usage = partition.usage(uuid)
    report = {names[rc]: usage.get(rc, 0) for rc in partition.inventories.get(uuid, {}) if rc in names}
    changed = [a.changed_at for a in partition.allocations if a.provider == uuid and a.changed_at]
    return UsageReport(report, max(changed) if changed else None)


def project_usages(
    conn: Connection, project_id: str, user_id: str | None, consumer_type: str | None
) -> list[UsageByConsumerType]:
    """One read of the project's index, then one per consumer: filtered in Python."""
    names = catalog.read_classes(conn).by_id
    members = conn.execute("SELECT consumer FROM {ks}.consumers_by_project WHERE project = ?", (project_id,))
    usages: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    counts: dict[str, int] = collections.Counter()
    for member in members:
        row = _consumer_row(conn, member.consumer)
        if row is None or row.project != project_id or (user_id is not None and row.user != user_id):
            continue
        kind = row.consumer_type or UNKNOWN_CONSUMER_TYPE
        if consumer_type is not None and kind != consumer_type:
            continue
        for resources in (row.allocations or {}).values():
            for rc, amount in resources.items():
                usages[kind][names.get(rc, str(rc))] += amount
        counts[kind] += 1
    return [UsageByConsumerType(kind, counts[kind], dict(usages[kind])) for kind in sorted(usages)]


# -- snapshots for the change feed ----------------------------------------------------


def snapshots(conn: Connection, locator: Locator, uuids: Iterable[str] | None) -> tuple[ProviderSnapshot, ...]:
    names = catalog.read_classes(conn).by_id
    if uuids is None:
        partitions = trees.read_all(conn)
        wanted = None
    else:
        wanted = set(uuids)
        parts = {locator.find(u) for u in wanted} - {None}
        partitions = [trees.read_partition(conn, part, serial=False) for part in sorted(parts)]
    found = []
    for partition in partitions:
        for row in partition.providers.values():
            if wanted is None or row.uuid in wanted:
                found.append((row.created_seq, _snapshot(partition, row.uuid, names)))
    return tuple(snapshot for _, snapshot in sorted(found, key=lambda item: item[0]))


def _snapshot(partition: Partition, uuid: str, names: dict[int, str]) -> ProviderSnapshot:
    row = partition.providers[uuid]
    p = row.provider
    inventories = {
        names[rc]: trees.named(inv.inventory, names[rc])
        for rc, inv in partition.inventories.get(uuid, {}).items()
        if rc in names
    }
    usage = {names[rc]: used for rc, used in partition.usage(uuid).items() if rc in names and used}
    return ProviderSnapshot(
        uuid=p.uuid,
        name=p.name,
        generation=p.generation,
        root_provider_uuid=p.root_provider_uuid,
        parent_provider_uuid=p.parent_provider_uuid,
        inventories=inventories,
        usages=usage,
        traits=row.traits,
        aggregates=row.aggregates,
        cell=row.cell,
    )
