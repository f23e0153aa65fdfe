"""A provider's inventories, traits and aggregates. Each write is one
conditional batch on the provider's partition: ``IF generation = g`` on the
provider row, with the inventory rows written beside it. A write that uses
a resource class or trait records the use, reads the partition and confirms
the names are live before its batch (see ``retirement``)."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterable, Mapping

from berth.placement import errors
from berth.placement.model import Inventory, ProviderAggregates, ProviderInventories, ProviderTraits
from berth.store.cassandra import catalog, changes, retirement, trees
from berth.store.cassandra.catalog import ClassCatalog
from berth.store.cassandra.providers import Locator, get_row
from berth.store.cassandra.session import Connection, utcnow
from berth.store.cassandra.trees import Partition, ProviderRow

_FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")
_UPSERT = (
    "UPDATE {ks}.tree SET total = ?, reserved = ?, min_unit = ?, max_unit = ?, step_size = ?, "
    "allocation_ratio = ?, rc = ?, created_at = ?, updated_at = ? "
    "WHERE part = ? AND provider = ? AND kind = 'i' AND key = ?"
)
_DELETE = "DELETE FROM {ks}.tree WHERE part = ? AND provider = ? AND kind = 'i' AND key = ?"


def _provider_of(partition: Partition, uuid: str) -> ProviderRow:
    row = partition.providers.get(uuid)
    if row is None:
        raise errors.ResourceProviderNotFound(uuid)
    return row


def inventories_of(partition: Partition, uuid: str, classes: ClassCatalog) -> ProviderInventories:
    row = _provider_of(partition, uuid)
    names = classes.by_id
    rows = [r for r in partition.inventories.get(uuid, {}).values() if r.rc in names]
    changed = [r.changed_at for r in rows if r.changed_at]
    return ProviderInventories(
        row.provider,
        {names[r.rc]: trees.named(r.inventory, names[r.rc]) for r in rows},
        max(changed) if changed else None,
    )


def read_inventories(conn: Connection, locator: Locator, uuid: str) -> ProviderInventories:
    partition = trees.read_partition(conn, locator.get(uuid), serial=False)
    return inventories_of(partition, uuid, catalog.read_classes(conn))


def replace_inventories(
    conn: Connection,
    locator: Locator,
    uuid: str,
    expected_generation: int,
    wanted: Mapping[str, Inventory],
    check_usage: bool = True,
) -> ProviderInventories:
    """Set the provider's inventory. ``check_usage=False`` is the interim
    step of a reshape, whose final inventory is checked."""
    part = locator.get(uuid)
    classes = catalog.read_classes(conn)
    ids = classes.ids(wanted.keys())
    used = classes.names(wanted.keys())
    retirement.record_uses(conn, uuid, used)
    partition = trees.read_partition(conn, part)
    row = _provider_of(partition, uuid)
    check_generation(row, expected_generation)
    current = partition.inventories.get(uuid, {})
    if check_usage:
        _refuse_below_usage(partition, row, wanted, ids, classes)
    retirement.confirm_live(conn, used)
    now = utcnow()
    writer = str(uuidlib.uuid4())
    statements = [trees.bump(row, now, writer)]
    statements += inventory_statements(part, uuid, current, {ids[name]: inv for name, inv in wanted.items()}, now)
    applied = conn.cas(statements, resolve=lambda: trees.written_by(conn, part, uuid, writer))
    if not applied.applied:
        raise errors.ConcurrentUpdate()
    changes.touch(conn, [uuid])
    return inventories_of(trees.read_partition(conn, part, serial=False), uuid, classes)


def inventory_statements(
    part: str, uuid: str, current: dict[int, trees.InventoryRow], wanted: dict[int, Inventory], now
) -> list[tuple[str, tuple]]:
    """The writes that turn the provider's inventory rows ``current`` into
    ``wanted`` (class id -> inventory); unchanged rows are left alone."""
    statements: list[tuple[str, tuple]] = [(_DELETE, (part, uuid, str(rc))) for rc in current.keys() - wanted.keys()]
    for rc, inventory in wanted.items():
        old = current.get(rc)
        if old is not None and _fields(old.inventory) == _fields(inventory):
            continue
        created = old.changed_at if old is not None else now
        statements.append(
            (_UPSERT, (*_fields(inventory), rc, created, now if old else None, part, uuid, str(rc)))
        )
    return statements


def _fields(inventory: Inventory) -> tuple:
    return tuple(getattr(inventory, f) for f in _FIELDS)


def check_generation(row: ProviderRow, expected: int) -> None:
    if row.generation != expected:
        raise errors.ConcurrentUpdate(
            "resource provider generation conflict - "
            f"expected {row.generation} but got {expected}"
        )


def _refuse_below_usage(
    partition: Partition, row: ProviderRow, wanted: Mapping[str, Inventory], ids: dict[str, int], classes: ClassCatalog
) -> None:
    """Removing a class in use, or shrinking capacity below usage, is refused
    (every row counts, pending and releasing ones too)."""
    usage = {rc: used for (provider, rc), used in partition.check_usage().items() if provider == row.uuid}
    names = classes.by_id
    in_use = [
        names.get(rc, str(rc))
        for rc, used in sorted(usage.items())
        if used and (names.get(rc) not in wanted or wanted[names[rc]].capacity < used)
    ]
    if in_use:
        raise errors.InventoryInUse(row.uuid, in_use)


# -- traits and aggregates -------------------------------------------------------


def read_traits(conn: Connection, locator: Locator, uuid: str) -> ProviderTraits:
    row = get_row(conn, locator, uuid)
    return ProviderTraits(row.provider, row.traits)


def set_traits(
    conn: Connection, locator: Locator, uuid: str, expected_generation: int, wanted: Iterable[str]
) -> ProviderTraits:
    used = catalog.check_traits(conn, wanted)
    traits = frozenset(n.name for n in used)
    retirement.record_uses(conn, uuid, used)
    row = get_row(conn, locator, uuid, serial=True)
    check_generation(row, expected_generation)
    retirement.confirm_live(conn, used)
    now = utcnow()
    writer = str(uuidlib.uuid4())
    cql, params = trees.bump(row, now, writer)
    cql = cql.replace("SET generation = ?", "SET traits = ?, generation = ?")
    applied = conn.cas(
        [(cql, (set(traits) or None, *params))], resolve=lambda: trees.written_by(conn, row.part, uuid, writer)
    )
    if not applied.applied:
        raise errors.ConcurrentUpdate()
    changes.touch(conn, [uuid])
    return ProviderTraits(trees.bumped(row, now), traits)


def read_aggregates(conn: Connection, locator: Locator, uuid: str) -> ProviderAggregates:
    row = get_row(conn, locator, uuid)
    return ProviderAggregates(row.provider, row.aggregates)


def set_aggregates(
    conn: Connection, locator: Locator, uuid: str, expected_generation: int | None, wanted: Iterable[str]
) -> ProviderAggregates:
    """With a generation the write is checked and bumps it; without (before
    microversion 1.19) it only needs the provider to exist."""
    row = get_row(conn, locator, uuid, serial=True)
    aggregates = frozenset(wanted)
    if expected_generation is None:
        cql = (
            "UPDATE {ks}.tree SET aggregates = ? "
            "WHERE part = ? AND provider = ? AND kind = 'p' AND key = '' IF EXISTS"
        )
        written = conn.cas(
            [(cql, (set(aggregates) or None, row.part, uuid))],
            resolve=lambda: get_row(conn, locator, uuid, serial=True).aggregates == aggregates,
        )
        if not written.applied:
            raise errors.ResourceProviderNotFound(uuid)
        changes.touch(conn, [uuid])
        return ProviderAggregates(row.provider, aggregates)
    check_generation(row, expected_generation)
    now = utcnow()
    writer = str(uuidlib.uuid4())
    cql, params = trees.bump(row, now, writer)
    cql = cql.replace("SET generation = ?", "SET aggregates = ?, generation = ?")
    applied = conn.cas(
        [(cql, (set(aggregates) or None, *params))], resolve=lambda: trees.written_by(conn, row.part, uuid, writer)
    )
    if not applied.applied:
        raise errors.ConcurrentUpdate()
    changes.touch(conn, [uuid])
    return ProviderAggregates(trees.bumped(row, now), aggregates)
