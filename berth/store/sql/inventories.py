"""A provider's inventories, traits and aggregates: each write is a
compare-and-set of the provider generation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from berth.placement import errors
from berth.placement.model import (
    Inventory,
    ProviderAggregates,
    ProviderInventories,
    ProviderTraits,
)
from berth.store.sql import catalog, changes, providers, schema
from berth.store.sql.clock import as_utc, utcnow
from berth.store.sql.providers import ProviderRow

_inv = schema.inventories
_rc = schema.resource_classes
_INVENTORY_FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")


def read_inventories(conn: Connection, row: ProviderRow) -> ProviderInventories:
    records = conn.execute(
        sa.select(_inv, _rc.c.name.label("resource_class"))
        .join(_rc, _rc.c.id == _inv.c.resource_class_id)
        .where(_inv.c.resource_provider_id == row.id)
    ).all()
    inventories = {
        r.resource_class: Inventory(
            resource_class=r.resource_class, **{f: getattr(r, f) for f in _INVENTORY_FIELDS}
        )
        for r in records
    }
    changed = [r.updated_at or r.created_at for r in records]
    last_modified = as_utc(max(changed)) if changed else None
    return ProviderInventories(row.provider, inventories, last_modified)


def usage_by_class(conn: Connection, provider_id: int) -> dict[str, int]:
    alloc = schema.allocations
    records = conn.execute(
        sa.select(_rc.c.name, sa.func.sum(alloc.c.used))
        .join(_rc, _rc.c.id == alloc.c.resource_class_id)
        .where(alloc.c.resource_provider_id == provider_id)
        .group_by(_rc.c.id, _rc.c.name)
        # Class id order (standard classes first, as os-resource-classes
        # lists them) is the order Placement names classes in messages.
        .order_by(_rc.c.id)
    )
    return {name: int(used) for name, used in records}


def replace_inventories(
    conn: Connection,
    row: ProviderRow,
    expected_generation: int,
    wanted: Mapping[str, Inventory],
    check_usage: bool = True,
) -> ProviderInventories:
    """Set the provider's inventory to ``wanted``; the row must be locked.

    ``check_usage=False`` is for the interim step of a reshape, whose final
    state is checked before the transaction commits.
    """
    providers.check_generation(row, expected_generation)
    class_ids = catalog.resource_class_ids(conn, wanted.keys())
    current = read_inventories(conn, row).inventories
    if check_usage:
        _refuse_below_usage(conn, row, current, wanted)
    now = utcnow()
    removed = catalog.resource_class_ids(conn, current.keys() - wanted.keys())
    if removed:
        conn.execute(
            _inv.delete().where(
                _inv.c.resource_provider_id == row.id,
                _inv.c.resource_class_id.in_(removed.values()),
            )
        )
    for name, inventory in wanted.items():
        values = {f: getattr(inventory, f) for f in _INVENTORY_FIELDS}
        if name not in current:
            conn.execute(
                _inv.insert().values(
                    resource_provider_id=row.id,
                    resource_class_id=class_ids[name],
                    created_at=now,
                    **values,
                )
            )
        elif current[name] != inventory:
            conn.execute(
                _inv.update()
                .where(
                    _inv.c.resource_provider_id == row.id,
                    _inv.c.resource_class_id == class_ids[name],
                )
                .values(updated_at=now, **values)
            )
    provider = providers.bump_generation(conn, row)
    return read_inventories(conn, providers.ProviderRow(row.id, row.root_id, row.parent_id, provider))


def _refuse_below_usage(
    conn: Connection,
    row: ProviderRow,
    current: Mapping[str, Inventory],
    wanted: Mapping[str, Inventory],
) -> None:
    """Removing a class in use, or shrinking capacity below usage, is refused
    so that usage never exceeds capacity (Placement allows the shrink)."""
    usage = usage_by_class(conn, row.id)
    in_use = [
        name
        for name, used in usage.items()
        if used and (name not in wanted or wanted[name].capacity < used)
    ]
    if in_use:
        raise errors.InventoryInUse(row.uuid, in_use)


# -- traits and aggregates of a provider ---------------------------------------


def read_traits(conn: Connection, row: ProviderRow) -> ProviderTraits:
    pt, traits = schema.provider_traits, schema.traits
    found = conn.execute(
        sa.select(traits.c.name)
        .join(pt, pt.c.trait_id == traits.c.id)
        .where(pt.c.resource_provider_id == row.id)
    ).scalars()
    return ProviderTraits(row.provider, frozenset(found))


def set_traits(
    conn: Connection, row: ProviderRow, expected_generation: int, wanted: Iterable[str]
) -> ProviderTraits:
    providers.check_generation(row, expected_generation)
    wanted_ids = catalog.trait_ids(conn, wanted)
    pt = schema.provider_traits
    conn.execute(pt.delete().where(pt.c.resource_provider_id == row.id))
    if wanted_ids:
        conn.execute(
            pt.insert(),
            [{"resource_provider_id": row.id, "trait_id": i} for i in wanted_ids.values()],
        )
    provider = providers.bump_generation(conn, row)
    return ProviderTraits(provider, frozenset(wanted_ids))


def read_aggregates(conn: Connection, row: ProviderRow) -> ProviderAggregates:
    pa = schema.provider_aggregates
    found = conn.execute(
        sa.select(pa.c.aggregate_uuid).where(pa.c.resource_provider_id == row.id)
    ).scalars()
    return ProviderAggregates(row.provider, frozenset(found))


def set_aggregates(
    conn: Connection, row: ProviderRow, expected_generation: int | None, wanted: Iterable[str]
) -> ProviderAggregates:
    pa = schema.provider_aggregates
    wanted = frozenset(wanted)
    provider = row.provider
    if expected_generation is not None:
        providers.check_generation(row, expected_generation)
    conn.execute(pa.delete().where(pa.c.resource_provider_id == row.id))
    if wanted:
        conn.execute(
            pa.insert(),
            [{"resource_provider_id": row.id, "aggregate_uuid": a} for a in sorted(wanted)],
        )
    if expected_generation is not None:
        provider = providers.bump_generation(conn, row)
    else:
        changes.touch(conn, [row.id])
    return ProviderAggregates(provider, wanted)
