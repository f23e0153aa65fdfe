"""Deleting a resource class or a trait safely against its first use.

The catalog row (partition ``catalog``) and the providers that use a name
(tree partitions) cannot share a conditional batch, so a delete and a
concurrent first use (an inventory of the class, the trait set on a
provider) meet through a handshake instead:

* A writer first records the use in the index (``class_users`` /
  ``trait_users``), then reads the provider's partition at SERIAL (the
  generation its batch is conditioned on), then confirms at SERIAL that
  every name it uses is still live in the catalog and is the one it read
  (the same class id; for a trait, the same creation time, since a trait
  deleted and created again keeps its name), then sends its batch.
* The deleter first marks the catalog row 'deleting' by CAS, then reads the
  index. Each provider listed either uses the name (the delete is refused
  and the mark removed) or is fenced: its generation is bumped by CAS, so a
  writer that confirmed before the mark and has not sent its batch yet
  fails on the generation. Only then is the row deleted.

A writer that recorded its use after the deleter read the index confirms
after the mark, and stops. A writer that recorded it before is seen and
either landed (in use) or is fenced. So no provider ever holds a deleted
class or trait. The index may list providers that no longer use a name
(a refused or superseded write, a removed trait); the deleter and
``list_traits(associated=...)`` check the provider itself.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Iterable, Sequence

from berth.placement import errors
from berth.store.cassandra import trees
from berth.store.cassandra.session import Connection, as_utc, utcnow

DELETING = "deleting"
# Fences retried when a concurrent write moved the generation in between.
FENCE_ATTEMPTS = 10

CLASS, TRAIT = "rc", "trait"
_INDEX = {CLASS: ("class_users", "rc"), TRAIT: ("trait_users", "trait")}


@dataclasses.dataclass(frozen=True, slots=True)
class CatalogName:
    """A class or trait as a writer read it. ``incarnation`` tells it apart
    from one deleted and created again: a class's id, a trait's creation
    time."""

    kind: str
    name: str
    incarnation: int | datetime.datetime

    @property
    def index_key(self) -> int | str:
        return self.incarnation if self.kind == CLASS else self.name

    @property
    def deletable(self) -> bool:
        """Only custom classes and traits (CUSTOM_ names) can be deleted."""
        return self.name.startswith("CUSTOM_")


def record_uses(conn: Connection, provider: str, names: Iterable[CatalogName]) -> None:
    """Step one of a writer: the provider is listed as a user of ``names``."""
    conn.write_plain(use_statements(provider, names))


def use_statements(provider: str, names: Iterable[CatalogName]) -> list[tuple[str, tuple]]:
    writes = []
    for n in names:
        table, column = _INDEX[n.kind]
        writes.append((f"INSERT INTO {{ks}}.{table} ({column}, provider) VALUES (?, ?)", (n.index_key, provider)))
    return writes


def confirm_live(conn: Connection, names: Sequence[CatalogName]) -> None:
    """Step three of a writer, after its SERIAL read of the provider: every
    name is still there, the same one, and not being deleted. Standard
    names are never deleted: nothing to confirm (and no read)."""
    for kind in (CLASS, TRAIT):
        wanted = [n for n in names if n.kind == kind and n.deletable]
        if not wanted:
            continue
        rows = conn.read_serial(
            "SELECT name, id, created_at, state FROM {ks}.catalog WHERE kind = ? AND name IN ?",
            (kind, [n.name for n in wanted]),
        )
        current = {r.name: r for r in rows}
        for n in wanted:
            row = current.get(n.name)
            if row is None or _incarnation(kind, row) != n.incarnation:
                raise _not_found(kind, n.name)
            if row.state == DELETING:
                raise errors.ConcurrentUpdate(f"{_label(kind)} {n.name} is being deleted")


def retire(conn: Connection, kind: str, name: str, in_use: Callable[[str], errors.BerthError]) -> None:
    """Delete the catalog row of a custom class or trait that no provider
    uses; ``in_use(name)`` is the error when one does."""
    row = _read(conn, kind, name)
    if row is None:
        raise _not_found(kind, name)
    entry = CatalogName(kind, name, _incarnation(kind, row))
    _mark(conn, entry)
    try:
        users = _listed_users(conn, entry)
        for provider in users:
            if _still_uses(conn, entry, provider):
                raise in_use(name)
    except BaseException:
        _unmark(conn, entry)
        raise
    delete = f"DELETE FROM {{ks}}.catalog WHERE kind = ? AND name = ? IF state = '{DELETING}'"
    deleted = conn.cas([(delete, (kind, name))], resolve=lambda: _read(conn, kind, name) is None)
    if not deleted.applied:
        raise errors.ConcurrentUpdate(f"{_label(kind)} {name} changed while being deleted")
    if kind == CLASS:
        # Class ids are never reused: the index entries of this one are dead.
        # (A trait's entries stay: a trait of the same name may be created
        # again, and its writers' entries are indistinguishable.)
        table, column = _INDEX[kind]
        conn.write_plain(
            [(f"DELETE FROM {{ks}}.{table} WHERE {column} = ? AND provider = ?", (entry.index_key, p)) for p in users]
        )


def listed_users(conn: Connection, kind: str, key: int | str, limit: int | None = None) -> list[str]:
    table, column = _INDEX[kind]
    cql = f"SELECT provider FROM {{ks}}.{table} WHERE {column} = ?"
    if limit is not None:
        cql += f" LIMIT {int(limit)}"
    return [r.provider for r in conn.execute(cql, (key,))]


def _listed_users(conn: Connection, entry: CatalogName) -> list[str]:
    return listed_users(conn, entry.kind, entry.index_key)


def uses(partition: trees.Partition, entry: CatalogName, provider: str) -> bool:
    """Whether ``provider``, as read in ``partition``, uses the name."""
    if entry.kind == CLASS:
        return entry.incarnation in partition.inventories.get(provider, {})
    row = partition.providers.get(provider)
    return row is not None and entry.name in row.traits


def _still_uses(conn: Connection, entry: CatalogName, provider: str) -> bool:
    """True when ``provider`` uses the name, or may be about to through a
    registration in flight; otherwise fence it and answer False."""
    owner = conn.read_serial("SELECT part FROM {ks}.providers WHERE uuid = ?", (provider,))
    if not owner:
        # Not even claimed: a registration claims the uuid before it
        # confirms its names, so it would confirm after the mark and stop.
        return False
    part = owner[0].part
    for _ in range(FENCE_ATTEMPTS):
        partition = trees.read_partition(conn, part)
        row = partition.providers.get(provider)
        if row is None:
            # The uuid is claimed but the row is not written: a creation or
            # registration in flight (or a deletion finishing). Refused
            # rather than guessed; a later delete succeeds.
            return True
        if uses(partition, entry, provider):
            return True
        fence = trees.bump(row, utcnow(), f"retire:{entry.kind}:{entry.name}")
        if conn.cas([fence], resolve=lambda: False).applied:
            return False
    raise errors.ConcurrentUpdate(f"provider {provider} kept changing while {entry.name} was being deleted")


def _mark(conn: Connection, entry: CatalogName) -> None:
    condition = "id = ?" if entry.kind == CLASS else "created_at = ?"
    mark = (
        f"UPDATE {{ks}}.catalog SET state = '{DELETING}' WHERE kind = ? AND name = ? "
        f"IF {condition} AND state = null"
    )
    marked = conn.cas(
        [(mark, (entry.kind, entry.name, entry.incarnation))],
        resolve=lambda: _state_of(conn, entry) == DELETING,
    )
    if marked.applied:
        return
    if _state_of(conn, entry) == DELETING:
        raise errors.ConcurrentUpdate(f"{_label(entry.kind)} {entry.name} is already being deleted")
    raise _not_found(entry.kind, entry.name)


def _unmark(conn: Connection, entry: CatalogName) -> None:
    condition = "id = ?" if entry.kind == CLASS else "created_at = ?"
    unmark = f"UPDATE {{ks}}.catalog SET state = null WHERE kind = ? AND name = ? IF {condition} AND state = '{DELETING}'"
    conn.cas_until(
        [(unmark, (entry.kind, entry.name, entry.incarnation))],
        done=lambda: _state_of(conn, entry) != DELETING,
    )


def _state_of(conn: Connection, entry: CatalogName) -> str | None:
    """The row's state if it is still ``entry``'s incarnation, else None."""
    row = _read(conn, entry.kind, entry.name)
    if row is None or _incarnation(entry.kind, row) != entry.incarnation:
        return None
    return row.state


def _read(conn: Connection, kind: str, name: str):
    rows = conn.read_serial(
        "SELECT name, id, created_at, state FROM {ks}.catalog WHERE kind = ? AND name = ?", (kind, name)
    )
    return rows[0] if rows else None


def _incarnation(kind: str, row) -> int | datetime.datetime:
    return row.id if kind == CLASS else as_utc(row.created_at)


def _not_found(kind: str, name: str) -> errors.NotFound:
    return errors.ResourceClassNotFound(name) if kind == CLASS else errors.TraitNotFound(name)


def _label(kind: str) -> str:
    return "resource class" if kind == CLASS else "trait"


def trait_is_used(conn: Connection, name: str) -> bool:
    """Whether a provider the index lists for the trait really holds it."""
    for provider in listed_users(conn, TRAIT, name):
        owner = conn.execute("SELECT part FROM {ks}.providers WHERE uuid = ?", (provider,))
        if not owner:
            continue
        rows = conn.execute(
            "SELECT traits FROM {ks}.tree WHERE part = ? AND provider = ? AND kind = 'p' AND key = ''",
            (owner[0].part, provider),
        )
        if rows and name in (rows[0].traits or ()):
            return True
    return False
