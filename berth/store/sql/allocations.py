"""Consumers and their allocations: the claim, written in one transaction.

A claim inserts the consumers it says are new and locks the others it
names, then every provider it touches (each set in one fixed order, so
concurrent claims queue instead of deadlocking),
checks consumer generations, inventories, unit rules and capacity against
the locked state, writes, and bumps the generations. Nothing is retried
inside the transaction: a conflict is reported, never papered over.

The claim is the hottest write (a scheduler makes one per placement), so
its statements are prepared (prepared.py): built once with Core, run on the
driver's cursor.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator, Sequence

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

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
from berth.store.sql.clock import as_utc, now_parameter, utcnow
from berth.store.sql.prepared import Prepared, in_list, in_values, numbered
from berth.store.sql.providers import ProviderRow
from berth.store.sql.usages import allocated_from_inventory

_alloc = schema.allocations
_consumers = schema.consumers
_inv = schema.inventories
_rc = schema.resource_classes
_rp = schema.resource_providers


class _ConsumerRow(msgspec.Struct, frozen=True):
    id: int
    consumer: Consumer


class _LockedProvider(msgspec.Struct, frozen=True):
    """What a claim needs of a provider it holds the lock on."""

    id: int
    uuid: str
    generation: int


class _Capacity(msgspec.Struct, frozen=True):
    """One inventory of a locked provider and what others already use of it."""

    class_id: int
    inventory: Inventory
    used: int


_CONSUMER_COLUMNS = (
    _consumers.c.id, _consumers.c.uuid, _consumers.c.project_id, _consumers.c.user_id,
    _consumers.c.generation, _consumers.c.consumer_type,
)


def _to_consumer(record: Sequence) -> _ConsumerRow:
    consumer_id, uuid, project_id, user_id, generation, consumer_type = record
    return _ConsumerRow(
        consumer_id,
        Consumer(
            uuid=uuid,
            project_id=project_id,
            user_id=user_id,
            generation=generation,
            consumer_type=consumer_type or UNKNOWN_CONSUMER_TYPE,
        ),
    )


# -- the claim's statements ----------------------------------------------------------

_LOCK_CONSUMERS = Prepared(lambda size: (
    sa.select(*_CONSUMER_COLUMNS)
    .where(_consumers.c.uuid.in_(in_list("uuid", size)))
    .order_by(_consumers.c.uuid)
    .with_for_update()
))
_HELD_BY_CONSUMERS = Prepared(lambda size: (
    sa.select(_alloc.c.consumer_id, _rp.c.uuid)
    .join(_rp, _rp.c.id == _alloc.c.resource_provider_id)
    .where(_alloc.c.consumer_id.in_(in_list("consumer", size)))
))


def _locked_capacities(shape: tuple[int, int]) -> sa.Select:
    """Lock ``providers`` providers (by uuid, in id order) and read, with
    each, its inventories and what is allocated from each one by consumers
    other than the ``consumers`` the claim rewrites: one statement where a
    lock and then a read of capacities would be two. A provider without
    inventory comes back once, with nulls."""
    providers, consumers = shape
    others = [_alloc.c.consumer_id.not_in(in_list("consumer", consumers))] if consumers else []
    used = sa.func.coalesce(allocated_from_inventory(*others), 0)
    return (
        sa.select(
            _rp.c.id, _rp.c.uuid, _rp.c.generation,
            _rc.c.name, _inv.c.resource_class_id, _inv.c.total, _inv.c.reserved, _inv.c.min_unit,
            _inv.c.max_unit, _inv.c.step_size, _inv.c.allocation_ratio, used,
        )
        .select_from(_rp)
        .outerjoin(_inv, _inv.c.resource_provider_id == _rp.c.id)
        .outerjoin(_rc, _rc.c.id == _inv.c.resource_class_id)
        .where(_rp.c.uuid.in_(in_list("uuid", providers)))
        .order_by(_rp.c.id)
        # PostgreSQL locks only the providers' rows (the inventories are on
        # the nullable side of the joins).
        .with_for_update(of=_rp)
    )


_LOCK_PROVIDERS_WITH_CAPACITIES = Prepared(_locked_capacities)
_DELETE_ALLOCATIONS = Prepared(lambda size: (
    _alloc.delete().where(_alloc.c.consumer_id.in_(in_list("consumer", size)))
))
_DELETE_CONSUMER = Prepared(lambda: _consumers.delete().where(_consumers.c.id == sa.bindparam("consumer")))
_UPDATE_CONSUMER = Prepared(lambda keep_type: (
    _consumers.update()
    .where(_consumers.c.id == sa.bindparam("consumer"), _consumers.c.generation == sa.bindparam("generation"))
    .values(
        project_id=sa.bindparam("project_id"), user_id=sa.bindparam("user_id"),
        generation=_consumers.c.generation + 1, updated_at=now_parameter(),
        **({} if keep_type else {"consumer_type": sa.bindparam("consumer_type")}),
    )
))
# ``size`` allocation rows in one statement: the timestamp is one typed
# parameter for all of them, converted once (prepared.py), where the driver
# converted it once per row (hundreds of times for a hundred instances).
_INSERT_ALLOCATIONS = Prepared(lambda size: _alloc.insert().values([
    {
        "resource_provider_id": sa.bindparam(f"provider_{row}"), "consumer_id": sa.bindparam(f"consumer_{row}"),
        "resource_class_id": sa.bindparam(f"class_{row}"), "used": sa.bindparam(f"used_{row}"),
        "created_at": now_parameter(),
    }
    for row in range(size)
]))


def _new_consumers(dialect: str, size: int) -> sa.Insert:
    """``size`` new consumers in one statement that skips any whose uuid is
    taken and answers the ids of those it inserted, unless the cursor gives
    the id (``_id_from_cursor``)."""
    insert = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}[dialect](_consumers).values([
        {
            "uuid": sa.bindparam(f"uuid_{row}"), "project_id": sa.bindparam(f"project_{row}"),
            "user_id": sa.bindparam(f"user_{row}"), "consumer_type": sa.bindparam(f"type_{row}"),
            "generation": 1, "created_at": now_parameter(),
        }
        for row in range(size)
    ]).on_conflict_do_nothing(index_elements=[_consumers.c.uuid])
    if _id_from_cursor(dialect, size):
        return insert
    return insert.returning(_consumers.c.uuid, _consumers.c.id)


def _id_from_cursor(dialect: str, size: int) -> bool:
    """Works around the cost of RETURNING on SQLite (its rows go through a
    temporary table: as much again as the insert): a single new consumer,
    a scheduler's claim, is inserted without it and its id read from the
    cursor (the row count tells whether the uuid was taken)."""
    return dialect == "sqlite" and size == 1


_INSERT_NEW_CONSUMERS = Prepared(_new_consumers, per_dialect=True)
# Statements with an IN list take at most this many items.
_SLICE = 500


def _lock_consumers(conn: Connection, uuids: Iterable[str]) -> dict[str, _ConsumerRow]:
    ordered = sorted(set(uuids))
    if not ordered:
        return {}
    records = _LOCK_CONSUMERS.rows(conn, in_values("uuid", ordered), shape=len(ordered))
    return {record[1]: _to_consumer(record) for record in records}


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


def _lock_providers(
    conn: Connection, uuids: set[str], consumer_ids: Sequence[int]
) -> tuple[dict[str, _LockedProvider], dict[tuple[int, str], _Capacity]]:
    """Lock providers in one fixed order (so two writers never deadlock),
    with their capacities and what consumers other than ``consumer_ids``
    use of them."""
    if not uuids:
        return {}, {}
    ordered = sorted(uuids)
    records = _LOCK_PROVIDERS_WITH_CAPACITIES.rows(
        conn, {**in_values("uuid", ordered), **in_values("consumer", consumer_ids)},
        shape=(len(ordered), len(consumer_ids)),
    )
    locked: dict[str, _LockedProvider] = {}
    capacities: dict[tuple[int, str], _Capacity] = {}
    for (
        provider_id, uuid, generation, name, class_id, total, reserved, min_unit, max_unit, step_size, ratio, used,
    ) in records:
        if uuid not in locked:
            locked[uuid] = _LockedProvider(provider_id, uuid, generation)
        if name is not None:
            capacities[(provider_id, name)] = _Capacity(
                class_id, _inventory(name, total, reserved, min_unit, max_unit, step_size, ratio), int(used),
            )
    missing = uuids - locked.keys()
    if missing:
        raise errors.ResourceProviderNotFound(sorted(missing)[0])
    return locked, capacities


# Inventories as read under the claim's lock, by their row: a fleet has a
# few distinct ones (a model of host has one inventory per class), and an
# Inventory (a frozen dataclass) costs several times a lookup to make.
_INVENTORIES: dict[tuple, Inventory] = {}
_INVENTORIES_KEPT = 4096


def _inventory(*row) -> Inventory:
    found = _INVENTORIES.get(row)
    if found is None:
        if len(_INVENTORIES) >= _INVENTORIES_KEPT:
            _INVENTORIES.clear()
        found = _INVENTORIES[row] = Inventory(*row)
    return found


def write_allocations(conn: Connection, claims: Sequence[ConsumerClaim]) -> None:
    now = utcnow()
    # A claim that says its consumer is new (a scheduler's, an instance's
    # first PUT) inserts it straight away: one statement where looking it up
    # and then creating it would be two. One that exists after all is
    # skipped by the insert, then read and refused below like any other
    # generation mismatch.
    created = _create_consumers(conn, [c for c in claims if c.expected_generation is None and not c.clears], now)
    consumer_rows = _lock_consumers(conn, (c.consumer_uuid for c in claims if c.consumer_uuid not in created))
    for claim in claims:
        if claim.consumer_uuid not in created:
            _check_consumer_generation(claim, consumer_rows.get(claim.consumer_uuid))
    consumer_ids = sorted(r.id for r in consumer_rows.values())
    held: list[tuple[int, str]] = (
        _HELD_BY_CONSUMERS.rows(conn, in_values("consumer", consumer_ids), shape=len(consumer_ids))
        if consumer_ids else []
    )
    cleared_ids = {consumer_rows[c.consumer_uuid].id for c in claims if c.clears and c.consumer_uuid in consumer_rows}
    wanted_uuids = {rp for c in claims for rp in c.allocations}
    # Placement bumps the providers a claim allocates from, and the ones a
    # cleared consumer gave back.
    bumped_uuids = wanted_uuids | {uuid for consumer_id, uuid in held if consumer_id in cleared_ids}
    locked, capacities = _lock_providers(conn, bumped_uuids | {uuid for _, uuid in held}, consumer_ids)
    if consumer_ids:
        _DELETE_ALLOCATIONS.run(conn, in_values("consumer", consumer_ids), shape=len(consumer_ids))
    _check_classes_exist(conn, claims, capacities)
    _check_fit(claims, locked, capacities)
    _write_claims(conn, claims, consumer_rows, created, locked, capacities, now)
    # The providers are locked (SQLite: the write lock; PostgreSQL: FOR
    # UPDATE), so the generations read under the lock are the ones bumped,
    # with the change feed's stamp, just before commit. Usage also changed
    # where a consumer moved away without being cleared (no bump there).
    changes.touch_usages(
        conn, (provider.id for provider in locked.values()), bumped=(locked[u].id for u in bumped_uuids),
    )


def _check_classes_exist(
    conn: Connection, claims: Sequence[ConsumerClaim], capacities: dict[tuple[int, str], _Capacity]
) -> None:
    """Raises ResourceClassNotFound for a class that does not exist. A
    class no locked provider has may still exist: the claim then fails for
    want of inventory (_check_fit)."""
    known = {name for _, name in capacities}
    unknown = {rc for c in claims for resources in c.allocations.values() for rc in resources} - known
    catalog.resource_class_ids(conn, unknown)


def _check_fit(
    claims: Sequence[ConsumerClaim],
    locked: dict[str, _LockedProvider],
    capacities: dict[tuple[int, str], _Capacity],
) -> None:
    """Every amount fits its inventory's unit rules, and every provider and
    class stays within capacity once the claims are added to what others
    hold."""
    requested: dict[tuple[int, str], int] = {}
    for claim in claims:
        for rp_uuid, resources in claim.allocations.items():
            provider_id = locked[rp_uuid].id
            for rc, amount in resources.items():
                key = (provider_id, rc)
                requested[key] = requested.get(key, 0) + amount
    for claim in claims:
        for rp_uuid, resources in claim.allocations.items():
            for rc, amount in resources.items():
                key = (locked[rp_uuid].id, rc)
                capacity = capacities.get(key)
                if capacity is None:
                    raise errors.NoInventoryForAllocation(rp_uuid, rc)
                if not capacity.inventory.admits(amount):
                    raise errors.UnitConstraintsViolated(rp_uuid, rc)
                if capacity.used + requested[key] > capacity.inventory.capacity:
                    raise errors.CapacityExceeded(rp_uuid, rc)


def _write_claims(
    conn: Connection,
    claims: Sequence[ConsumerClaim],
    consumer_rows: dict[str, _ConsumerRow],
    created: dict[str, int],
    locked: dict[str, _LockedProvider],
    capacities: dict[tuple[int, str], _Capacity],
    now,
) -> None:
    """``created``: the ids of consumers inserted already (by uuid); the
    other new ones are inserted here and added to it."""
    for claim in claims:
        row = consumer_rows.get(claim.consumer_uuid)
        if claim.clears and row is not None:
            _DELETE_CONSUMER.run(conn, {"consumer": row.id})
        elif not claim.clears and row is not None:
            _update_consumer(conn, claim, row, now)
    missing = [
        c for c in claims if not c.clears and c.consumer_uuid not in consumer_rows and c.consumer_uuid not in created
    ]
    created.update(_create_consumers(conn, missing, now))
    rows: list[tuple[int, int, int, int]] = []
    for claim in claims:
        if claim.clears:
            continue
        row = consumer_rows.get(claim.consumer_uuid)
        consumer_id = row.id if row is not None else created.get(claim.consumer_uuid)
        if consumer_id is None:
            # Created by a concurrent writer since it was looked up
            # (PostgreSQL; SQLite's writers take turns).
            raise errors.ConcurrentUpdate()
        for rp_uuid, resources in claim.allocations.items():
            provider_id = locked[rp_uuid].id
            for rc, amount in resources.items():
                rows.append((provider_id, consumer_id, capacities[(provider_id, rc)].class_id, amount))
    for size, values in _in_slices(rows, ("provider", "consumer", "class", "used"), now):
        _INSERT_ALLOCATIONS.run(conn, values, shape=size)


def _create_consumers(conn: Connection, claims: Sequence[ConsumerClaim], now) -> dict[str, int]:
    """New consumers (generation 1 after their first write), up to _SLICE
    in one statement, in uuid order (concurrent PostgreSQL writers take the
    uuids' index entries in one order); returns the ids of those inserted
    by uuid. A uuid some consumer has already is skipped."""
    if not claims:
        return {}
    rows = sorted(
        ((c.consumer_uuid, c.project_id, c.user_id, c.consumer_type) for c in claims), key=lambda row: row[0],
    )
    ids: dict[str, int] = {}
    for size, values in _in_slices(rows, ("uuid", "project", "user", "type"), now):
        if _id_from_cursor(conn.dialect.name, size):
            cursor = _INSERT_NEW_CONSUMERS.execute(conn, values, shape=size)
            if cursor.rowcount == 1:
                ids[values["uuid_0"]] = cursor.lastrowid
            cursor.close()
        else:
            ids.update(_INSERT_NEW_CONSUMERS.rows(conn, values, shape=size))
    return ids


def _in_slices(rows: Sequence[tuple], columns: tuple[str, ...], now) -> Iterator[tuple[int, dict]]:
    """``rows`` in slices of at most _SLICE, each as the parameters of one
    multi-row statement: ``<column>_<n>`` for row n's values, and the
    timestamp the rows share under ``now``."""
    for start in range(0, len(rows), _SLICE):
        chunk = rows[start:start + _SLICE]
        values: dict = {"now": now}
        # Column by column (zip(*chunk) transposes), so that the names and
        # values pair up in C.
        for column, cells in zip(columns, zip(*chunk)):
            values.update(zip(numbered(column, len(chunk)), cells))
        yield len(chunk), values


def _update_consumer(conn: Connection, claim: ConsumerClaim, row: _ConsumerRow, now) -> None:
    """Update an existing consumer's owner and type and bump its generation."""
    keep_type = claim.consumer_type is None
    updated = _UPDATE_CONSUMER.run(conn, {
        "consumer": row.id, "generation": row.consumer.generation, "project_id": claim.project_id,
        "user_id": claim.user_id, "consumer_type": claim.consumer_type, "now": now,
    }, shape=keep_type)
    if updated != 1:
        raise errors.ConcurrentUpdate()


def delete_consumer_allocations(conn: Connection, consumer_uuid: str) -> None:
    rows = _lock_consumers(conn, [consumer_uuid])
    row = rows.get(consumer_uuid)
    deleted = 0
    if row is not None:
        freed = conn.execute(
            sa.select(_alloc.c.resource_provider_id).where(_alloc.c.consumer_id == row.id)
        ).scalars()
        changes.touch_usages(conn, set(freed))
        deleted = conn.execute(_alloc.delete().where(_alloc.c.consumer_id == row.id)).rowcount
        conn.execute(_consumers.delete().where(_consumers.c.id == row.id))
    if not deleted:
        raise errors.NotFound(f"No allocations for consumer '{consumer_uuid}'")


# -- reads ---------------------------------------------------------------------


def get_consumer_allocations(conn: Connection, consumer_uuid: str) -> ConsumerAllocations:
    record = conn.execute(sa.select(*_CONSUMER_COLUMNS).where(_consumers.c.uuid == consumer_uuid)).one_or_none()
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
