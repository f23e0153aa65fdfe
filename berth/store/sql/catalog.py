"""Resource classes and traits: the standard names and custom ones."""

from __future__ import annotations

from collections.abc import Iterable

import os_resource_classes
import os_traits
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from berth.placement import errors
from berth.placement.model import ResourceClass, Timestamps, Trait
from berth.store.sql import changes, schema
from berth.store.sql.clock import as_utc, utcnow

_rc = schema.resource_classes
_traits = schema.traits


def _timestamps(record: Row) -> Timestamps:
    return Timestamps(as_utc(record.created_at), as_utc(record.updated_at))


def sync_standard_names(conn: Connection) -> None:
    """Insert the standard classes and traits this release knows of."""
    _insert_missing(conn, _rc, os_resource_classes.STANDARDS)
    _insert_missing(conn, _traits, os_traits.get_traits())


def _insert_missing(conn: Connection, table: sa.Table, names: Iterable[str]) -> None:
    present = set(conn.execute(sa.select(table.c.name)).scalars())
    now = utcnow()
    rows = [{"name": name, "created_at": now} for name in names if name not in present]
    if rows:
        conn.execute(table.insert(), rows)


def is_standard_resource_class(name: str) -> bool:
    return name in os_resource_classes.STANDARDS


def resource_class_ids(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    """Ids of the named classes; raises ResourceClassNotFound for the first
    unknown one."""
    wanted = set(names)
    if not wanted:
        return {}
    found = dict(conn.execute(sa.select(_rc.c.name, _rc.c.id).where(_rc.c.name.in_(wanted))).all())
    missing = wanted - found.keys()
    if missing:
        raise errors.ResourceClassNotFound(sorted(missing)[0])
    return found


def trait_ids(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    wanted = set(names)
    if not wanted:
        return {}
    found = dict(
        conn.execute(sa.select(_traits.c.name, _traits.c.id).where(_traits.c.name.in_(wanted))).all()
    )
    missing = wanted - found.keys()
    if missing:
        raise errors.TraitNotFound(sorted(missing))
    return found


# -- resource classes --------------------------------------------------------


def list_resource_classes(conn: Connection) -> list[ResourceClass]:
    records = conn.execute(sa.select(_rc).order_by(_rc.c.id))
    return [ResourceClass(r.name, _timestamps(r)) for r in records]


def _find_resource_class(conn: Connection, name: str) -> Row | None:
    return conn.execute(sa.select(_rc).where(_rc.c.name == name)).one_or_none()


def get_resource_class(conn: Connection, name: str) -> ResourceClass:
    record = _find_resource_class(conn, name)
    if record is None:
        raise errors.ResourceClassNotFound(name)
    return ResourceClass(record.name, _timestamps(record))


def create_resource_class(conn: Connection, name: str) -> ResourceClass:
    if _find_resource_class(conn, name) is not None:
        raise errors.ResourceClassExists(name)
    conn.execute(_rc.insert().values(name=name, created_at=utcnow()))
    return get_resource_class(conn, name)


def rename_resource_class(conn: Connection, name: str, new_name: str) -> ResourceClass:
    record = _find_resource_class(conn, name)
    if record is None:
        raise errors.ResourceClassNotFound(name)
    if is_standard_resource_class(name):
        raise errors.CannotChangeStandard(f"Cannot update standard resource class {name}")
    if new_name != name and _find_resource_class(conn, new_name) is not None:
        raise errors.ResourceClassExists(new_name)
    conn.execute(_rc.update().where(_rc.c.id == record.id).values(name=new_name, updated_at=utcnow()))
    changes.catalog_changed(conn)
    return get_resource_class(conn, new_name)


def delete_resource_class(conn: Connection, name: str) -> None:
    record = _find_resource_class(conn, name)
    if record is None:
        raise errors.ResourceClassNotFound(name)
    if is_standard_resource_class(name):
        raise errors.CannotChangeStandard(f"Cannot delete standard resource class {name}.")
    for table in (schema.inventories, schema.allocations):
        used = conn.execute(
            sa.select(table.c.id).where(table.c.resource_class_id == record.id).limit(1)
        ).first()
        if used:
            raise errors.ResourceClassInUse(name)
    conn.execute(_rc.delete().where(_rc.c.id == record.id))
    changes.catalog_changed(conn)


# -- traits ------------------------------------------------------------------


def list_traits(
    conn: Connection,
    names: Iterable[str] | None,
    prefix: str | None,
    associated: bool | None,
) -> list[Trait]:
    query = sa.select(_traits).order_by(_traits.c.name)
    if names is not None:
        query = query.where(_traits.c.name.in_(set(names)))
    if prefix:
        query = query.where(_traits.c.name.startswith(prefix, autoescape=True))
    if associated is not None:
        linked = sa.select(schema.provider_traits.c.trait_id)
        query = query.where(_traits.c.id.in_(linked) if associated else _traits.c.id.not_in(linked))
    return [Trait(r.name, _timestamps(r)) for r in conn.execute(query)]


def get_trait(conn: Connection, name: str) -> Trait:
    record = conn.execute(sa.select(_traits).where(_traits.c.name == name)).one_or_none()
    if record is None:
        raise errors.TraitNotFound(name)
    return Trait(record.name, _timestamps(record))


def ensure_trait(conn: Connection, name: str) -> tuple[Trait, bool]:
    try:
        return get_trait(conn, name), False
    except errors.TraitNotFound:
        conn.execute(_traits.insert().values(name=name, created_at=utcnow()))
        return get_trait(conn, name), True


def delete_trait(conn: Connection, name: str) -> None:
    record = conn.execute(sa.select(_traits).where(_traits.c.name == name)).one_or_none()
    if record is None:
        raise errors.TraitNotFound(name)
    if not name.startswith("CUSTOM_"):
        raise errors.CannotChangeStandard(f"Cannot delete standard trait {name}.")
    in_use = conn.execute(
        sa.select(schema.provider_traits.c.trait_id)
        .where(schema.provider_traits.c.trait_id == record.id)
        .limit(1)
    ).first()
    if in_use:
        raise errors.TraitInUse(name)
    conn.execute(_traits.delete().where(_traits.c.id == record.id))
