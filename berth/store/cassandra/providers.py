"""Resource providers: creation, lookup, renaming and re-parenting, deletion,
and the provider query (filtered in Python over a scan; see docs/backends.md).

A child is created in its parent's partition, so a tree created top-down is
one partition. Re-parenting moves no data: a provider keeps its partition
for life, and a tree assembled from several trees then spans partitions
(its claims take the multi-partition path, which is just as safe). A
re-parenting is all or nothing (``moves``); while one is in flight its rows
carry ``moving``, and creations under them, deletions and renames of them
are refused as concurrent updates.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from berth.placement import errors
from berth.placement.model import ResourceProvider
from berth.placement.query import ProviderQuery
from berth.store.cassandra import catalog, changes, moves, trees
from berth.store.cassandra.session import Connection, utcnow
from berth.store.cassandra.trees import Partition, ProviderRow

_SELECT_ONE = trees.SELECT_PARTITION + " AND provider = ? AND kind = 'p' AND key = ''"
# How often a delete is retried when a concurrent write moved the generation.
DELETE_ATTEMPTS = 10


class Locator:
    """Provider uuid -> tree partition. A provider never changes partition,
    so an answer is cached for the life of the process."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._parts: dict[str, str] = {}

    def find(self, uuid: str) -> str | None:
        part = self._parts.get(uuid)
        if part is None:
            rows = self.conn.execute("SELECT part FROM {ks}.providers WHERE uuid = ?", (uuid,))
            if rows:
                part = self._parts[uuid] = rows[0].part
        return part

    def get(self, uuid: str) -> str:
        part = self.find(uuid)
        if part is None:
            raise errors.ResourceProviderNotFound(uuid)
        return part

    def forget(self, uuid: str) -> None:
        self._parts.pop(uuid, None)


def find_row(conn: Connection, locator: Locator, uuid: str, serial: bool = False) -> ProviderRow | None:
    part = locator.find(uuid)
    if part is None:
        return None
    read = conn.read_serial if serial else conn.execute
    rows = read(_SELECT_ONE, (part, uuid))
    if not rows:
        return None
    return trees.to_partition(part, rows).providers[uuid]


def get_row(conn: Connection, locator: Locator, uuid: str, serial: bool = False) -> ProviderRow:
    row = find_row(conn, locator, uuid, serial)
    if row is None:
        raise errors.ResourceProviderNotFound(uuid)
    return row


# -- create --------------------------------------------------------------------


def create_provider(
    conn: Connection, locator: Locator, uuid: str, name: str, parent_uuid: str | None
) -> ResourceProvider:
    if find_row(conn, locator, uuid) is not None:
        raise errors.ProviderExists(uuid)
    parent = None
    if parent_uuid is not None:
        if parent_uuid == uuid:
            raise errors.InvalidParent(
                "parent provider UUID cannot be same as UUID. Please set "
                "parent provider UUID to None if there is no parent."
            )
        parent = find_row(conn, locator, parent_uuid, serial=True)
    part = parent.part if parent else uuid
    claim_uuid(conn, uuid, part)
    try:
        claim_name(conn, name, uuid)
        if parent_uuid is not None and parent is None:
            raise errors.InvalidParent("parent provider UUID does not exist.")
        _insert_row(conn, uuid, name, part, parent)
    except errors.BerthError:
        release_name(conn, name, uuid)
        release_uuid(conn, uuid, part)
        raise
    changes.touch(conn, [uuid])
    return get_row(conn, locator, uuid).provider


def claim_uuid(conn: Connection, uuid: str, part: str) -> None:
    insert = "INSERT INTO {ks}.providers (uuid, part) VALUES (?, ?) IF NOT EXISTS"
    claimed = conn.cas([(insert, (uuid, part))], resolve=lambda: _owner_part(conn, uuid) == part)
    if not claimed.applied:
        raise errors.ProviderExists(uuid)


def _owner_part(conn: Connection, uuid: str) -> str | None:
    rows = conn.read_serial("SELECT part FROM {ks}.providers WHERE uuid = ?", (uuid,))
    return rows[0].part if rows else None


def release_uuid(conn: Connection, uuid: str, part: str) -> None:
    delete = "DELETE FROM {ks}.providers WHERE uuid = ? IF part = ?"
    conn.cas([(delete, (uuid, part))], resolve=lambda: _owner_part(conn, uuid) != part)


def _name_owner(conn: Connection, name: str) -> str | None:
    rows = conn.read_serial("SELECT uuid FROM {ks}.provider_names WHERE name = ?", (name,))
    return rows[0].uuid if rows else None


def claim_name(conn: Connection, name: str, uuid: str) -> None:
    insert = "INSERT INTO {ks}.provider_names (name, uuid) VALUES (?, ?) IF NOT EXISTS"
    claimed = conn.cas([(insert, (name, uuid))], resolve=lambda: _name_owner(conn, name) == uuid)
    if not claimed.applied and claimed.current[0].uuid != uuid:
        raise errors.DuplicateProviderName(name)


def release_name(conn: Connection, name: str, uuid: str) -> None:
    delete = "DELETE FROM {ks}.provider_names WHERE name = ? IF uuid = ?"
    conn.cas([(delete, (name, uuid))], resolve=lambda: _name_owner(conn, name) != uuid)


_INSERT_ROW = (
    "INSERT INTO {ks}.tree (part, provider, kind, key, name, parent, root, generation, created_seq, created_at) "
    "VALUES (?, ?, 'p', '', ?, ?, ?, 0, ?, ?) IF NOT EXISTS"
)
# The parent exists, has the root the child is given, and is not moving.
ADD_CHILD = (
    "UPDATE {ks}.tree SET children = children + ? "
    "WHERE part = ? AND provider = ? AND kind = 'p' AND key = '' IF moving = null AND root = ?"
)


def _insert_row(conn: Connection, uuid: str, name: str, part: str, parent: ProviderRow | None) -> None:
    root = parent.provider.root_provider_uuid if parent else uuid
    statements = [(_INSERT_ROW, (part, uuid, name, parent.uuid if parent else None, root, time.time_ns(), utcnow()))]
    if parent is not None:
        # In the same conditional batch: the parent still exists.
        statements.append((ADD_CHILD, ({uuid}, part, parent.uuid, root)))

    def landed() -> bool:
        return bool(conn.read_serial(_SELECT_ONE, (part, uuid)))

    if not conn.cas(statements, resolve=landed).applied:
        if parent is not None and exists(conn, part, parent.uuid):
            raise errors.ConcurrentUpdate("the parent provider moved or is moving; retry")
        raise errors.InvalidParent("parent provider UUID does not exist.")


# -- update --------------------------------------------------------------------


def update_provider(
    conn: Connection, locator: Locator, uuid: str, name: str, parent_uuid: str | None, allow_reparent: bool
) -> ResourceProvider:
    row = get_row(conn, locator, uuid, serial=True)
    old = row.provider
    renamed = name != old.name
    move = None
    if parent_uuid != old.parent_provider_uuid:
        new_parent = _check_new_parent(conn, locator, row, parent_uuid, allow_reparent)
        old_parent = find_row(conn, locator, old.parent_provider_uuid, serial=True) if old.parent_provider_uuid else None
        members = subtree(conn, locator, row)
        move = moves.plan_move(row, members, old_parent, new_parent, new_name=name if renamed else None)
    if renamed:
        claim_name(conn, name, uuid)
    try:
        if move is not None:
            moves.run(conn, move)
        elif renamed:
            _rename(conn, row, name)
    except BaseException:
        if renamed:
            release_name(conn, name, uuid)
        raise
    if renamed:
        release_name(conn, old.name, uuid)
    changes.touch(conn, moves.touched(move) if move else {uuid})
    return get_row(conn, locator, uuid).provider


def _rename(conn: Connection, row: ProviderRow, name: str) -> None:
    """The row exists (it has its root) and no move holds it."""
    update = (
        "UPDATE {ks}.tree SET name = ?, updated_at = ? "
        "WHERE part = ? AND provider = ? AND kind = 'p' AND key = '' IF moving = null AND root = ?"
    )
    renamed = conn.cas(
        [(update, (name, utcnow(), row.part, row.uuid, row.provider.root_provider_uuid))],
        resolve=lambda: _row_is(conn, row, name=name),
    )
    if not renamed.applied:
        if not exists(conn, row.part, row.uuid):
            raise errors.ResourceProviderNotFound(row.uuid)
        raise errors.ConcurrentUpdate("the provider is moving; retry")


def _check_new_parent(
    conn: Connection, locator: Locator, row: ProviderRow, parent_uuid: str | None, allow_reparent: bool
) -> ProviderRow | None:
    if parent_uuid is None:
        if not allow_reparent:
            raise errors.InvalidParent("un-parenting a provider is not currently allowed.")
        return None
    parent = find_row(conn, locator, parent_uuid, serial=True)
    if parent is None:
        raise errors.InvalidParent("parent provider UUID does not exist.")
    if row.provider.parent_provider_uuid is not None and not allow_reparent:
        raise errors.InvalidParent("re-parenting a provider is not currently allowed.")
    if parent_uuid in subtree(conn, locator, row):
        raise errors.InvalidParent("creating loop in the provider tree is not allowed.")
    return parent


def subtree(conn: Connection, locator: Locator, row: ProviderRow) -> dict[str, ProviderRow]:
    """The provider and its descendants, followed through ``children``."""
    found = {row.uuid: row}
    frontier = [row]
    while frontier:
        nxt = []
        for current in frontier:
            for child in sorted(current.children - found.keys()):
                child_row = find_row(conn, locator, child, serial=True)
                if child_row is not None:
                    found[child] = child_row
                    nxt.append(child_row)
        frontier = nxt
    return found


_SET_CHILDREN = (
    "UPDATE {ks}.tree SET children = children {op} ? "
    "WHERE part = ? AND provider = ? AND kind = 'p' AND key = '' IF EXISTS"
)


def _set_child(conn: Connection, parent: ProviderRow, child: str, present: bool) -> None:
    cql = _SET_CHILDREN.replace("{op}", "+" if present else "-")

    def done() -> bool:
        rows = conn.read_serial(_SELECT_ONE, (parent.part, parent.uuid))
        return not rows or (child in (rows[0].children or ())) == present

    conn.cas_until([(cql, ({child}, parent.part, parent.uuid))], done=done)


def _row_is(conn: Connection, row: ProviderRow, **wanted: str | None) -> bool:
    """Read back at SERIAL whether the provider row has the wanted values
    (or is gone, when nothing is left to write)."""
    rows = conn.read_serial(_SELECT_ONE, (row.part, row.uuid))
    return not rows or all(getattr(rows[0], column) == value for column, value in wanted.items())


# -- cells ---------------------------------------------------------------------


def set_cell(conn: Connection, locator: Locator, uuid: str, cell: str | None) -> None:
    """Not guarded by the generation (see the port): ``IF EXISTS`` only."""
    part = locator.get(uuid)
    update = "UPDATE {ks}.tree SET cell = ? WHERE part = ? AND provider = ? AND kind = 'p' AND key = '' IF EXISTS"

    def landed() -> bool:
        rows = conn.read_serial(_SELECT_ONE, (part, uuid))
        return bool(rows) and rows[0].cell == cell

    if not conn.cas([(update, (cell, part, uuid))], resolve=landed).applied:
        raise errors.ResourceProviderNotFound(uuid)
    changes.touch(conn, [uuid])


# -- delete --------------------------------------------------------------------


def delete_provider(conn: Connection, locator: Locator, uuid: str) -> None:
    part = locator.get(uuid)
    for _ in range(DELETE_ATTEMPTS):
        partition = trees.read_partition(conn, part)
        row = partition.providers.get(uuid)
        if row is None:
            raise errors.ResourceProviderNotFound(uuid)
        if row.children:
            raise errors.CannotDeleteParent(uuid)
        if any(a.provider == uuid for a in partition.allocations):
            raise errors.ProviderInUse()
        if conn.cas(_delete_statements(partition, row), resolve=lambda: not exists(conn, part, uuid)).applied:
            break
    else:
        raise errors.ConcurrentUpdate()
    _forget(conn, locator, row, set(partition.inventories.get(uuid, {})))


def exists(conn: Connection, part: str, uuid: str) -> bool:
    return bool(conn.read_serial(_SELECT_ONE, (part, uuid)))


def _delete_statements(partition: Partition, row: ProviderRow) -> list[tuple[str, tuple]]:
    statements = [
        (
            "DELETE FROM {ks}.tree WHERE part = ? AND provider = ? AND kind = 'p' AND key = '' "
            "IF generation = ? AND children = null AND moving = null",
            (row.part, row.uuid, row.generation),
        )
    ]
    for rc in partition.inventories.get(row.uuid, {}):
        statements.append(
            ("DELETE FROM {ks}.tree WHERE part = ? AND provider = ? AND kind = 'i' AND key = ?", (row.part, row.uuid, str(rc)))
        )
    return statements


def _forget(conn: Connection, locator: Locator, row: ProviderRow, classes: set[int]) -> None:
    """After the row is gone: the parent's child set, indexes, name, locator.
    The index entries go before the uuid is released: once released, a new
    provider of the same uuid may record uses of its own."""
    parent = row.provider.parent_provider_uuid
    if parent is not None:
        parent_row = find_row(conn, locator, parent)
        if parent_row is not None:
            _set_child(conn, parent_row, row.uuid, present=False)
    conn.write_plain(
        [("DELETE FROM {ks}.trait_users WHERE trait = ? AND provider = ?", (t, row.uuid)) for t in row.traits]
        + [("DELETE FROM {ks}.class_users WHERE rc = ? AND provider = ?", (rc, row.uuid)) for rc in classes]
    )
    release_name(conn, row.provider.name, row.uuid)
    release_uuid(conn, row.uuid, row.part)
    locator.forget(row.uuid)
    changes.touch(conn, [row.uuid])


# -- the provider query ------------------------------------------------------------


def list_providers(conn: Connection, locator: Locator, query: ProviderQuery) -> list[ResourceProvider]:
    partitions = _candidate_partitions(conn, locator, query)
    if partitions is None:
        return []
    root = None
    if query.in_tree is not None:
        tree = find_row(conn, locator, query.in_tree)
        if tree is None:
            return []
        root = tree.provider.root_provider_uuid
    classes = catalog.read_classes(conn).by_name if query.resources else {}
    found: list[ProviderRow] = []
    for partition in partitions:
        for row in partition.providers.values():
            if _matches(row, partition, query, root, classes):
                found.append(row)
    return [row.provider for row in sorted(found, key=lambda r: r.created_seq)]


def _candidate_partitions(conn: Connection, locator: Locator, query: ProviderQuery) -> list[Partition] | None:
    """Partitions to look in: one for a name or uuid, every one otherwise."""
    uuid = query.uuid
    if query.name is not None:
        rows = conn.execute("SELECT uuid FROM {ks}.provider_names WHERE name = ?", (query.name,))
        if not rows or (uuid is not None and rows[0].uuid != uuid):
            return None
        uuid = rows[0].uuid
    if uuid is not None:
        part = locator.find(uuid)
        return None if part is None else [trees.read_partition(conn, part, serial=False)]
    return trees.read_all(conn)


def _matches(
    row: ProviderRow, partition: Partition, query: ProviderQuery, root: str | None, classes: dict[str, int]
) -> bool:
    p = row.provider
    if query.name is not None and p.name != query.name:
        return False
    if query.uuid is not None and p.uuid != query.uuid:
        return False
    if root is not None and p.root_provider_uuid != root:
        return False
    if not query.traits.is_met_by(row.traits) or not query.aggregates.is_met_by(row.aggregates):
        return False
    return _has_room(row.uuid, partition, query.resources, classes)


def _has_room(uuid: str, partition: Partition, resources, classes: dict[str, int]) -> bool:
    if not resources:
        return True
    usage = partition.usage(uuid)
    inventories = partition.inventories.get(uuid, {})
    for name, amount in resources.items():
        rc = classes.get(name)
        inv = inventories.get(rc)
        if inv is None or not inv.inventory.admits(amount):
            return False
        if usage.get(rc, 0) + amount > inv.inventory.capacity:
            return False
    return True


def rows_of(conn: Connection, locator: Locator, uuids: Iterable[str]) -> dict[str, ProviderRow]:
    found = {}
    for uuid in uuids:
        row = find_row(conn, locator, uuid)
        if row is not None:
            found[uuid] = row
    return found
