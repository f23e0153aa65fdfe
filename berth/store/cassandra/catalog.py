"""Resource classes and traits. Classes carry an id that inventories and
allocations refer to, so a rename touches one row. Deleting one is safe
against a concurrent first use: see ``retirement``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import os_resource_classes

from berth.placement import errors
from berth.placement.model import ResourceClass, Timestamps, Trait
from berth.store.cassandra import changes, retirement
from berth.store.cassandra.retirement import CLASS, TRAIT, CatalogName
from berth.store.cassandra.session import Connection, as_utc, utcnow

_SELECT = "SELECT name, id, created_at, updated_at FROM {ks}.catalog WHERE kind = ?"


@dataclasses.dataclass(frozen=True, slots=True)
class ClassCatalog:
    """Every resource class with its id, read at one moment."""

    by_name: dict[str, int]

    @property
    def by_id(self) -> dict[int, str]:
        return {i: name for name, i in self.by_name.items()}

    def ids(self, names: Iterable[str]) -> dict[str, int]:
        """Ids of ``names``; ResourceClassNotFound for the first unknown."""
        wanted = sorted(set(names))
        for name in wanted:
            if name not in self.by_name:
                raise errors.ResourceClassNotFound(name)
        return {name: self.by_name[name] for name in wanted}

    def names(self, names: Iterable[str]) -> list[CatalogName]:
        """``names`` as a writer records and confirms them (see retirement)."""
        return [CatalogName(CLASS, name, i) for name, i in self.ids(names).items()]


def _timestamps(row) -> Timestamps:
    return Timestamps(as_utc(row.created_at), as_utc(row.updated_at))


def read_classes(conn: Connection) -> ClassCatalog:
    return read_classes_async(conn)()


def read_classes_async(conn: Connection):
    """Send the catalog read now; call the result to wait for it."""
    answer = conn.execute_async(_SELECT, ("rc",))
    return lambda: ClassCatalog({r.name: r.id for r in answer.result()})


def is_standard_class(name: str) -> bool:
    return name in os_resource_classes.STANDARDS


# -- resource classes ----------------------------------------------------------


def list_resource_classes(conn: Connection) -> list[ResourceClass]:
    rows = sorted(conn.execute(_SELECT, ("rc",)), key=lambda r: r.id)
    return [ResourceClass(r.name, _timestamps(r)) for r in rows]


def _find(conn: Connection, kind: str, name: str):
    rows = conn.read_serial(_SELECT + " AND name = ?", (kind, name))
    return rows[0] if rows else None


def get_resource_class(conn: Connection, name: str) -> ResourceClass:
    rows = conn.execute(_SELECT + " AND name = ?", ("rc", name))
    if not rows:
        raise errors.ResourceClassNotFound(name)
    return ResourceClass(rows[0].name, _timestamps(rows[0]))


def _next_class_id(conn: Connection) -> int:
    """Take the next custom class id by compare-and-set on the counter."""
    while True:
        current = conn.read_serial("SELECT next_id FROM {ks}.catalog_ids WHERE kind = 'rc'")[0].next_id
        update = "UPDATE {ks}.catalog_ids SET next_id = ? WHERE kind = 'rc' IF next_id = ?"
        took = conn.cas(
            [(update, (current + 1, current))],
            resolve=lambda: False,  # an id lost to an unknown outcome is only a gap
        )
        if took.applied:
            return current


def create_resource_class(conn: Connection, name: str) -> ResourceClass:
    if _find(conn, "rc", name) is not None:
        raise errors.ResourceClassExists(name)
    class_id = _next_class_id(conn)
    insert = "INSERT INTO {ks}.catalog (kind, name, id, created_at) VALUES ('rc', ?, ?, ?) IF NOT EXISTS"
    created = conn.cas(
        [(insert, (name, class_id, utcnow()))],
        resolve=lambda: getattr(_find(conn, "rc", name), "id", None) == class_id,
    )
    if not created.applied:
        raise errors.ResourceClassExists(name)
    return get_resource_class(conn, name)


def rename_resource_class(conn: Connection, name: str, new_name: str) -> ResourceClass:
    row = _find(conn, "rc", name)
    if row is None:
        raise errors.ResourceClassNotFound(name)
    if is_standard_class(name):
        raise errors.CannotChangeStandard(f"Cannot update standard resource class {name}")
    if new_name == name:
        return ResourceClass(row.name, _timestamps(row))
    # One conditional batch in the catalog partition: the new name is free
    # and the old one still has this id and is not being deleted.
    batch = [
        (
            "INSERT INTO {ks}.catalog (kind, name, id, created_at, updated_at) VALUES ('rc', ?, ?, ?, ?) IF NOT EXISTS",
            (new_name, row.id, row.created_at, utcnow()),
        ),
        ("DELETE FROM {ks}.catalog WHERE kind = 'rc' AND name = ? IF id = ? AND state = null", (name, row.id)),
    ]
    renamed = conn.cas(batch, resolve=lambda: getattr(_find(conn, "rc", new_name), "id", None) == row.id)
    if not renamed.applied:
        if _find(conn, "rc", new_name) is not None:
            raise errors.ResourceClassExists(new_name)
        raise errors.ResourceClassNotFound(name)
    changes.catalog_changed(conn)
    return get_resource_class(conn, new_name)


def delete_resource_class(conn: Connection, name: str) -> None:
    row = _find(conn, "rc", name)
    if row is None:
        raise errors.ResourceClassNotFound(name)
    if is_standard_class(name):
        raise errors.CannotChangeStandard(f"Cannot delete standard resource class {name}.")
    retirement.retire(conn, CLASS, name, errors.ResourceClassInUse)
    changes.catalog_changed(conn)


# -- traits --------------------------------------------------------------------


def list_traits(
    conn: Connection, names: Iterable[str] | None, prefix: str | None, associated: bool | None
) -> list[Trait]:
    rows = conn.execute(_SELECT, ("trait",))
    if names is not None:
        wanted = set(names)
        rows = [r for r in rows if r.name in wanted]
    if prefix:
        rows = [r for r in rows if r.name.startswith(prefix)]
    if associated is not None:
        # DISTINCT on the partition key: the traits listed as used by some
        # provider; the index may list former users, so each is checked.
        listed = {r.trait for r in conn.execute("SELECT DISTINCT trait FROM {ks}.trait_users")}
        used = {name for name in listed if retirement.trait_is_used(conn, name)}
        rows = [r for r in rows if (r.name in used) == associated]
    return [Trait(r.name, _timestamps(r)) for r in sorted(rows, key=lambda r: r.name)]


def get_trait(conn: Connection, name: str) -> Trait:
    rows = conn.execute(_SELECT + " AND name = ?", ("trait", name))
    if not rows:
        raise errors.TraitNotFound(name)
    return Trait(rows[0].name, _timestamps(rows[0]))


def check_traits(conn: Connection, names: Iterable[str]) -> list[CatalogName]:
    """``names`` as a writer records and confirms them; TraitNotFound for
    any unknown."""
    wanted = frozenset(names)
    if not wanted:
        return []
    known = {r.name: as_utc(r.created_at) for r in conn.execute(_SELECT, ("trait",))}
    missing = wanted - known.keys()
    if missing:
        raise errors.TraitNotFound(sorted(missing))
    return [CatalogName(TRAIT, name, known[name]) for name in sorted(wanted)]


def ensure_trait(conn: Connection, name: str) -> tuple[Trait, bool]:
    insert = "INSERT INTO {ks}.catalog (kind, name, created_at) VALUES ('trait', ?, ?) IF NOT EXISTS"
    now = utcnow()
    created = conn.cas(
        [(insert, (name, now))],
        resolve=lambda: as_utc(getattr(_find(conn, "trait", name), "created_at", None)) == now,
    )
    return get_trait(conn, name), created.applied


def delete_trait(conn: Connection, name: str) -> None:
    if _find(conn, "trait", name) is None:
        raise errors.TraitNotFound(name)
    if not name.startswith("CUSTOM_"):
        raise errors.CannotChangeStandard(f"Cannot delete standard trait {name}.")
    retirement.retire(conn, TRAIT, name, errors.TraitInUse)
