"""Registering many new providers in one transaction.

A fleet coming up at once (or a benchmark loading 100,000 providers) would
otherwise pay four transactions per provider: create, inventories, traits,
aggregates. Here every table gets one multi-row insert per batch. Only new
providers are accepted, in an order where a parent comes before its
children; the checks are the ones the single-provider writes make.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from berth.placement import errors
from berth.placement.model import ProviderRegistration
from berth.store.sql import catalog, changes, providers, schema
from berth.store.sql.clock import utcnow

_rp = schema.resource_providers
_BATCH = 2000


def register_providers(conn: Connection, registrations: Sequence[ProviderRegistration]) -> None:
    class_ids = catalog.resource_class_ids(
        conn, {name for r in registrations for name in r.inventories}
    )
    trait_ids = catalog.trait_ids(conn, {name for r in registrations for name in r.traits})
    for start in range(0, len(registrations), _BATCH):
        _register_batch(conn, registrations[start:start + _BATCH], class_ids, trait_ids)


def _register_batch(
    conn: Connection,
    batch: Sequence[ProviderRegistration],
    class_ids: dict[str, int],
    trait_ids: dict[str, int],
) -> None:
    uuids = [r.uuid for r in batch]
    names = [r.name for r in batch]
    if len(set(uuids)) != len(uuids):
        raise errors.ProviderExists(next(u for u in uuids if uuids.count(u) > 1))
    taken = conn.execute(sa.select(_rp.c.uuid).where(_rp.c.uuid.in_(uuids))).scalars().first()
    if taken is not None:
        raise errors.ProviderExists(taken)
    if len(set(names)) != len(names) or conn.execute(
        sa.select(_rp.c.id).where(_rp.c.name.in_(names))
    ).first():
        raise errors.DuplicateProviderName(
            next(n for n in names if names.count(n) > 1 or providers_named(conn, n))
        )
    now = utcnow()
    ids: dict[str, int] = {}
    roots: dict[str, int] = {}
    for registration in batch:
        parent_id = root_id = None
        if registration.parent_uuid is not None:
            parent_id = ids.get(registration.parent_uuid)
            if parent_id is None:
                parent = providers.find_provider(conn, registration.parent_uuid, lock=True)
                if parent is None:
                    raise errors.InvalidParent("parent provider UUID does not exist.")
                parent_id, root_id = parent.id, parent.root_id
            else:
                root_id = roots[registration.parent_uuid]
        new_id = conn.execute(
            _rp.insert().values(
                uuid=registration.uuid, name=registration.name, generation=0,
                parent_provider_id=parent_id, root_provider_id=root_id, created_at=now,
                cell=registration.cell,
            )
        ).inserted_primary_key[0]
        ids[registration.uuid] = new_id
        roots[registration.uuid] = root_id if root_id is not None else new_id
    conn.execute(
        _rp.update().where(_rp.c.id.in_([ids[u] for u in uuids if roots[u] == ids[u]]))
        .values(root_provider_id=_rp.c.id)
    )
    inventory_rows = [
        {
            "resource_provider_id": ids[r.uuid], "resource_class_id": class_ids[name],
            "total": inv.total, "reserved": inv.reserved, "min_unit": inv.min_unit,
            "max_unit": inv.max_unit, "step_size": inv.step_size,
            "allocation_ratio": inv.allocation_ratio, "created_at": now,
        }
        for r in batch for name, inv in r.inventories.items()
    ]
    for row in inventory_rows:
        if row["min_unit"] > row["max_unit"] or row["reserved"] > row["total"] or row["step_size"] < 1:
            raise errors.InvalidInventory("inventory of a registered provider is inconsistent")
    if inventory_rows:
        conn.execute(schema.inventories.insert(), inventory_rows)
    trait_rows = [
        {"resource_provider_id": ids[r.uuid], "trait_id": trait_ids[name]}
        for r in batch for name in r.traits
    ]
    if trait_rows:
        conn.execute(schema.provider_traits.insert(), trait_rows)
    aggregate_rows = [
        {"resource_provider_id": ids[r.uuid], "aggregate_uuid": aggregate}
        for r in batch for aggregate in r.aggregates
    ]
    if aggregate_rows:
        conn.execute(schema.provider_aggregates.insert(), aggregate_rows)
    changes.touch(conn, ids.values())


def providers_named(conn: Connection, name: str) -> bool:
    return conn.execute(sa.select(_rp.c.id).where(_rp.c.name == name)).first() is not None
