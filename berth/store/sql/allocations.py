"""Consumers and their allocations: the claim, written in one transaction.

A claim locks the consumers it names, then every provider it touches (each
set in one fixed order, so concurrent claims queue instead of deadlocking),
checks consumer generations, inventories, unit rules and capacity against
the locked state, writes, and bumps the generations. Nothing is retried
inside the transaction: a conflict is reported, never papered over.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from berth.placement import errors
from berth.placement.model import (
    NOT_CHECKED,
    UNKNOWN_CONSUMER_TYPE,
    Consumer,
    ConsumerAllocations,
    ConsumerClaim,
    ConsumerUsage,
    Inventory,
    ProviderAllocation,
    ProviderAllocations,
)
from berth.store.sql import catalog, changes, providers, schema
from berth.store.sql.engine import as_utc, utcnow
from berth.store.sql.providers import ProviderRow

_alloc = schema.allocations
_consumers = schema.consumers
_inv = schema.inventories
_rc = schema.resource_classes


@dataclasses.dataclass(frozen=True, slots=True)
class _ConsumerRow:
    id: int
    consumer: Consumer


def _to_consumer(record: Row) -> _ConsumerRow:
    return _ConsumerRow(
        record.id,
        Consumer(
            uuid=record.uuid,
            project_id=record.project_id,
            user_id=record.user_id,
            generation=record.generation,
            consumer_type=record.consumer_type or UNKNOWN_CONSUMER_TYPE,
        ),
    )


def _lock_consumers(conn: Connection, uuids: Iterable[str]) -> dict[str, _ConsumerRow]:
    query = (
        sa.select(_consumers)
        .where(_consumers.c.uuid.in_(sorted(set(uuids))))
        .order_by(_consumers.c.uuid)
        .with_for_update()
    )
    return {r.uuid: _to_consumer(r) for r in conn.execute(query)}


def _check_consumer_generation(claim: ConsumerClaim, row: _ConsumerRow | None) -> None:
    expected = claim.expected_generation
    if expected is NOT_CHECKED:
        return
    actual = row.consumer.generation if row else None
    if actual != expected:
        shown = "null" if actual is None else actual
        raise errors.ConcurrentUpdate(
            f"consumer generation conflict - expected {shown} but got {expected}"
        )


def _current_allocations(conn: Connection, consumer_ids: list[int]) -> list[Row]:
    if not consumer_ids:
        return []
    return conn.execute(
        sa.select(_alloc.c.resource_provider_id, _alloc.c.consumer_id, schema.resource_providers.c.uuid)
        .join(schema.resource_providers, schema.resource_providers.c.id == _alloc.c.resource_provider_id)
        .where(_alloc.c.consumer_id.in_(consumer_ids))
    ).all()


def write_allocations(conn: Connection, claims: Sequence[ConsumerClaim]) -> None:
    consumer_rows = _lock_consumers(conn, (c.consumer_uuid for c in claims))
    for claim in claims:
        _check_consumer_generation(claim, consumer_rows.get(claim.consumer_uuid))
    old = _current_allocations(conn, [r.id for r in consumer_rows.values()])
    cleared_ids = {consumer_rows[c.consumer_uuid].id for c in claims if c.clears and c.consumer_uuid in consumer_rows}
    wanted_uuids = {rp for c in claims for rp in c.allocations}
    # Placement bumps the providers a claim allocates from, and the ones a
    # cleared consumer gave back.
    bumped_uuids = wanted_uuids | {r.uuid for r in old if r.consumer_id in cleared_ids}
    locked = providers.lock_providers(conn, bumped_uuids | {r.uuid for r in old})
    class_ids = catalog.resource_class_ids(conn, {rc for c in claims for a in c.allocations.values() for rc in a})
    if consumer_rows:
        conn.execute(_alloc.delete().where(_alloc.c.consumer_id.in_([r.id for r in consumer_rows.values()])))
    _check_fit(conn, claims, locked, class_ids)
    _write_claims(conn, claims, consumer_rows, locked, class_ids)
    for uuid in sorted(bumped_uuids, key=lambda u: locked[u].id):
        providers.bump_generation(conn, locked[uuid])
    # Usage also changed where a consumer moved away without being cleared.
    changes.touch(conn, (row.id for row in locked.values()))


def _check_fit(
    conn: Connection,
    claims: Sequence[ConsumerClaim],
    locked: dict[str, ProviderRow],
    class_ids: dict[str, int],
) -> None:
    """Every amount fits its inventory's unit rules, and every provider and
    class stays within capacity once the claims are added to what others
    hold (the claimed consumers' old allocations are already deleted)."""
    requested: dict[tuple[str, str], int] = collections.Counter()
    for claim in claims:
        for rp_uuid, resources in claim.allocations.items():
            for rc, amount in resources.items():
                requested[(rp_uuid, rc)] += amount
    if not requested:
        return
    inventories = _inventories_of(conn, {locked[rp].id for rp, _ in requested}, class_ids.values())
    usage = _usage_of(conn, {locked[rp].id for rp, _ in requested}, class_ids.values())
    for claim in claims:
        for rp_uuid, resources in claim.allocations.items():
            for rc, amount in resources.items():
                key = (locked[rp_uuid].id, class_ids[rc])
                inventory = inventories.get(key)
                if inventory is None:
                    raise errors.NoInventoryForAllocation(rp_uuid, rc)
                if not inventory.admits(amount):
                    raise errors.UnitConstraintsViolated(rp_uuid, rc)
                if usage.get(key, 0) + requested[(rp_uuid, rc)] > inventory.capacity:
                    raise errors.CapacityExceeded(rp_uuid, rc)


def _inventories_of(
    conn: Connection, provider_ids: set[int], class_ids: Iterable[int]
) -> dict[tuple[int, int], Inventory]:
    records = conn.execute(
        sa.select(_inv, _rc.c.name.label("resource_class"))
        .join(_rc, _rc.c.id == _inv.c.resource_class_id)
        .where(_inv.c.resource_provider_id.in_(provider_ids), _inv.c.resource_class_id.in_(list(class_ids)))
    )
    return {
        (r.resource_provider_id, r.resource_class_id): Inventory(
            r.resource_class, r.total, r.reserved, r.min_unit, r.max_unit, r.step_size, r.allocation_ratio
        )
        for r in records
    }


def _usage_of(
    conn: Connection, provider_ids: set[int], class_ids: Iterable[int]
) -> dict[tuple[int, int], int]:
    records = conn.execute(
        sa.select(_alloc.c.resource_provider_id, _alloc.c.resource_class_id, sa.func.sum(_alloc.c.used))
        .where(_alloc.c.resource_provider_id.in_(provider_ids), _alloc.c.resource_class_id.in_(list(class_ids)))
        .group_by(_alloc.c.resource_provider_id, _alloc.c.resource_class_id)
    )
    return {(rp, rc): int(used) for rp, rc, used in records}


def _write_claims(
    conn: Connection,
    claims: Sequence[ConsumerClaim],
    consumer_rows: dict[str, _ConsumerRow],
    locked: dict[str, ProviderRow],
    class_ids: dict[str, int],
) -> None:
    now = utcnow()
    for claim in claims:
        row = consumer_rows.get(claim.consumer_uuid)
        if claim.clears:
            if row is not None:
                conn.execute(_consumers.delete().where(_consumers.c.id == row.id))
            continue
        consumer_id = _save_consumer(conn, claim, row, now)
        conn.execute(
            _alloc.insert(),
            [
                {
                    "resource_provider_id": locked[rp_uuid].id,
                    "consumer_id": consumer_id,
                    "resource_class_id": class_ids[rc],
                    "used": amount,
                    "created_at": now,
                }
                for rp_uuid, resources in claim.allocations.items()
                for rc, amount in resources.items()
            ],
        )


def _save_consumer(conn: Connection, claim: ConsumerClaim, row: _ConsumerRow | None, now) -> int:
    """Create the consumer (generation 1 after its first write) or update its
    owner and type and bump its generation."""
    if row is None:
        return conn.execute(
            _consumers.insert().values(
                uuid=claim.consumer_uuid,
                project_id=claim.project_id,
                user_id=claim.user_id,
                consumer_type=claim.consumer_type,
                generation=1,
                created_at=now,
            )
        ).inserted_primary_key[0]
    values = {
        "project_id": claim.project_id,
        "user_id": claim.user_id,
        "generation": row.consumer.generation + 1,
        "updated_at": now,
    }
    if claim.consumer_type is not None:
        values["consumer_type"] = claim.consumer_type
    result = conn.execute(
        _consumers.update()
        .where(_consumers.c.id == row.id, _consumers.c.generation == row.consumer.generation)
        .values(**values)
    )
    if result.rowcount != 1:
        raise errors.ConcurrentUpdate()
    return row.id


def delete_consumer_allocations(conn: Connection, consumer_uuid: str) -> None:
    rows = _lock_consumers(conn, [consumer_uuid])
    row = rows.get(consumer_uuid)
    deleted = 0
    if row is not None:
        freed = conn.execute(
            sa.select(_alloc.c.resource_provider_id).where(_alloc.c.consumer_id == row.id)
        ).scalars()
        changes.touch(conn, set(freed))
        deleted = conn.execute(_alloc.delete().where(_alloc.c.consumer_id == row.id)).rowcount
        conn.execute(_consumers.delete().where(_consumers.c.id == row.id))
    if not deleted:
        raise errors.NotFound(f"No allocations for consumer '{consumer_uuid}'")


# -- reads ---------------------------------------------------------------------


def get_consumer_allocations(conn: Connection, consumer_uuid: str) -> ConsumerAllocations:
    record = conn.execute(sa.select(_consumers).where(_consumers.c.uuid == consumer_uuid)).one_or_none()
    if record is None:
        return ConsumerAllocations(consumer=None, allocations=())
    row = _to_consumer(record)
    allocs = conn.execute(
        sa.select(_alloc.c.resource_provider_id, _rc.c.name, _alloc.c.used, _alloc.c.created_at, _alloc.c.updated_at)
        .join(_rc, _rc.c.id == _alloc.c.resource_class_id)
        .where(_alloc.c.consumer_id == row.id)
    ).all()
    by_provider: dict[int, dict[str, int]] = collections.defaultdict(dict)
    for a in allocs:
        by_provider[a.resource_provider_id][a.name] = a.used
    provider_rows = providers.rows_by_id(conn, by_provider.keys())
    changed = [a.updated_at or a.created_at for a in allocs]
    return ConsumerAllocations(
        consumer=row.consumer,
        allocations=tuple(
            ProviderAllocation(provider_rows[pid].provider, resources) for pid, resources in by_provider.items()
        ),
        last_modified=as_utc(max(changed)) if changed else None,
    )


def get_provider_allocations(conn: Connection, row: ProviderRow) -> ProviderAllocations:
    allocs = conn.execute(
        sa.select(
            _consumers.c.uuid, _consumers.c.generation, _rc.c.name, _alloc.c.used,
            _alloc.c.created_at, _alloc.c.updated_at,
        )
        .join(_consumers, _consumers.c.id == _alloc.c.consumer_id)
        .join(_rc, _rc.c.id == _alloc.c.resource_class_id)
        .where(_alloc.c.resource_provider_id == row.id)
        .order_by(_alloc.c.id)
    ).all()
    by_consumer: dict[str, dict[str, int]] = collections.defaultdict(dict)
    generations: dict[str, int] = {}
    for a in allocs:
        by_consumer[a.uuid][a.name] = a.used
        generations[a.uuid] = a.generation
    changed = [a.updated_at or a.created_at for a in allocs]
    return ProviderAllocations(
        provider=row.provider,
        consumers=tuple(
            ConsumerUsage(uuid, resources, generations[uuid])
            for uuid, resources in by_consumer.items()
        ),
        last_modified=as_utc(max(changed)) if changed else None,
    )
