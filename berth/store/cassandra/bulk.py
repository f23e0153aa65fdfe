"""Registering many new providers at once, all or nothing.

Everything that can be checked is checked before the first write. Then each
uuid and name is claimed by compare-and-set, and each tree's rows are
inserted with one conditional batch on its partition (``IF NOT EXISTS`` on
every provider row). A failure at any step releases what was taken, in
reverse order, so a refused registration leaves nothing behind.

Each step runs its reads, lightweight transactions and batches many at a
time (``PARALLEL``): each one waits on network round trips (four for a
Paxos round), so one after another they leave the cluster idle. The steps
themselves stay in order.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from berth.placement import errors
from berth.placement.model import ProviderRegistration
from berth.store.cassandra import catalog, changes, providers, retirement
from berth.store.cassandra.providers import Locator
from berth.store.cassandra.session import Connection, utcnow

# Requests of one step in flight at once.
PARALLEL = 32
# Plain statements sent before waiting for their answers.
PLAIN_CHUNK = 2000

T = TypeVar("T")

_INSERT = (
    "INSERT INTO {ks}.tree (part, provider, kind, key, name, parent, root, generation, created_seq, "
    "traits, aggregates, children, cell, created_at) VALUES (?, ?, 'p', '', ?, ?, ?, 0, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
)
_INVENTORY = (
    "INSERT INTO {ks}.tree (part, provider, kind, key, total, reserved, min_unit, max_unit, step_size, "
    "allocation_ratio, rc, created_at) VALUES (?, ?, 'i', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def register_providers(conn: Connection, locator: Locator, registrations: Sequence[ProviderRegistration]) -> None:
    catalog_now = catalog.read_classes(conn)
    classes = catalog_now.ids({n for r in registrations for n in r.inventories})
    class_names = {n.name: n for n in catalog_now.names(classes)}
    trait_names = {n.name: n for n in catalog.check_traits(conn, {t for r in registrations for t in r.traits})}
    placed = _place(conn, locator, registrations)
    # The uses are recorded before the uuids are claimed, and confirmed
    # after (see retirement: a delete that finds a uuid unclaimed relies on it).
    _write_plain(conn, (
        statement
        for r in registrations
        for statement in retirement.use_statements(
            r.uuid, [class_names[n] for n in r.inventories] + [trait_names[t] for t in r.traits]
        )
    ))
    claimed_uuids: list[ProviderRegistration] = []
    claimed_names: list[ProviderRegistration] = []
    inserted: list[tuple[str, list[ProviderRegistration]]] = []
    with ThreadPoolExecutor(PARALLEL, thread_name_prefix="berth-register") as pool:
        try:
            _each(pool, lambda r: providers.claim_uuid(conn, r.uuid, placed[r.uuid][0]), registrations, claimed_uuids)
            _each(pool, lambda r: providers.claim_name(conn, r.name, r.uuid), registrations, claimed_names)
            retirement.confirm_live(conn, [*class_names.values(), *trait_names.values()])
            layout = _Layout.of(registrations, placed)
            groups = list(_by_partition(registrations, placed).items())
            _each(pool, lambda g: _insert_group(conn, g[0], g[1], layout, classes), groups, inserted)
        except BaseException:
            _undo(pool, conn, inserted, claimed_names, claimed_uuids, placed)
            raise
    _write_plain(conn, changes.entries(r.uuid for r in registrations))


def _each(pool: ThreadPoolExecutor, action: Callable[[T], None], items: Sequence[T], done: list[T]) -> None:
    """Run ``action`` on every item, many at a time; ``done`` gets the items
    it succeeded on (also when another failed: they are to be undone). The
    first failure is raised once every item has been tried."""
    futures = [(item, pool.submit(action, item)) for item in items]
    failure: BaseException | None = None
    for item, future in futures:
        try:
            future.result()
            done.append(item)
        except BaseException as exc:  # noqa: BLE001 - raised below, after the others
            failure = failure or exc
    if failure is not None:
        raise failure


def _write_plain(conn: Connection, statements: Iterable[tuple[str, tuple]]) -> None:
    chunk: list[tuple[str, tuple]] = []
    for statement in statements:
        chunk.append(statement)
        if len(chunk) == PLAIN_CHUNK:
            conn.write_plain(chunk)
            chunk = []
    conn.write_plain(chunk)


def _place(
    conn: Connection, locator: Locator, registrations: Sequence[ProviderRegistration]
) -> dict[str, tuple[str, str]]:
    """uuid -> (partition, root), checking what the writes will rely on."""
    placed: dict[str, tuple[str, str]] = {}
    names: set[str] = set()
    for r in registrations:
        if r.uuid in placed:
            raise errors.ProviderExists(r.uuid)
        if r.name in names:
            raise errors.DuplicateProviderName(r.name)
        for inv in r.inventories.values():
            if inv.min_unit > inv.max_unit or inv.reserved > inv.total or inv.step_size < 1:
                raise errors.InvalidInventory("inventory of a registered provider is inconsistent")
        names.add(r.name)
        placed[r.uuid] = ("", "")  # known to be new in this request; filled below
    _check_new(conn, registrations)
    for r in registrations:
        if r.parent_uuid is None:
            placed[r.uuid] = (r.uuid, r.uuid)
        elif r.parent_uuid in placed and placed[r.parent_uuid][0]:
            placed[r.uuid] = placed[r.parent_uuid]
        else:
            parent = providers.find_row(conn, locator, r.parent_uuid, serial=True)
            if parent is None:
                raise errors.InvalidParent("parent provider UUID does not exist.")
            placed[r.uuid] = (parent.part, parent.provider.root_provider_uuid)
    return placed


def _check_new(conn: Connection, registrations: Sequence[ProviderRegistration]) -> None:
    """No uuid or name is taken yet: every lookup sent at once, by chunks."""
    for start in range(0, len(registrations), PLAIN_CHUNK):
        chunk = registrations[start:start + PLAIN_CHUNK]
        uuids = [conn.execute_async("SELECT part FROM {ks}.providers WHERE uuid = ?", (r.uuid,)) for r in chunk]
        names = [conn.execute_async("SELECT uuid FROM {ks}.provider_names WHERE name = ?", (r.name,)) for r in chunk]
        for r, uuid_answer, name_answer in zip(chunk, uuids, names):
            if uuid_answer.result():
                raise errors.ProviderExists(r.uuid)
            if name_answer.result():
                raise errors.DuplicateProviderName(r.name)


def _by_partition(
    registrations: Sequence[ProviderRegistration], placed: dict[str, tuple[str, str]]
) -> dict[str, list[ProviderRegistration]]:
    groups: dict[str, list[ProviderRegistration]] = collections.defaultdict(list)
    for r in registrations:
        groups[placed[r.uuid][0]].append(r)
    return groups


@dataclasses.dataclass(frozen=True, slots=True)
class _Layout:
    """What the batches need to know about the whole registration."""

    placed: dict[str, tuple[str, str]]  # uuid -> (partition, root)
    children: dict[str, set[str]]
    created_seq: dict[str, int]  # creation order: the order of the request

    @classmethod
    def of(cls, registrations: Sequence[ProviderRegistration], placed: dict[str, tuple[str, str]]) -> _Layout:
        children: dict[str, set[str]] = collections.defaultdict(set)
        for r in registrations:
            if r.parent_uuid is not None:
                children[r.parent_uuid].add(r.uuid)
        first = time.time_ns()
        return cls(placed, dict(children), {r.uuid: first + i for i, r in enumerate(registrations)})


def _insert_group(
    conn: Connection, part: str, group: list[ProviderRegistration], layout: _Layout, classes: dict[str, int]
) -> None:
    """One conditional batch for the new providers of one partition."""
    now = utcnow()
    placed = layout.placed
    ours = {r.uuid for r in group}
    statements: list[tuple[str, tuple]] = []
    for r in group:
        statements.append((
            _INSERT,
            (part, r.uuid, r.name, r.parent_uuid, placed[r.uuid][1], layout.created_seq[r.uuid],
             set(r.traits) or None, set(r.aggregates) or None, layout.children.get(r.uuid) or None, r.cell, now),
        ))
        for name, inv in r.inventories.items():
            statements.append((
                _INVENTORY,
                (part, r.uuid, str(classes[name]), inv.total, inv.reserved, inv.min_unit, inv.max_unit,
                 inv.step_size, inv.allocation_ratio, classes[name], now),
            ))
        if r.parent_uuid is not None and r.parent_uuid not in ours and r.parent_uuid not in placed:
            # An existing parent in this partition: it must still exist.
            statements.append((providers.ADD_CHILD, ({r.uuid}, part, r.parent_uuid, placed[r.uuid][1])))
    if not conn.cas(statements, resolve=lambda: providers.exists(conn, part, group[0].uuid)).applied:
        raise errors.InvalidParent("parent provider UUID does not exist.")


def _undo(
    pool: ThreadPoolExecutor,
    conn: Connection,
    inserted: list[tuple[str, list[ProviderRegistration]]],
    names: list[ProviderRegistration],
    uuids: list[ProviderRegistration],
    placed: dict[str, tuple[str, str]],
) -> None:
    def delete_group(group: tuple[str, list[ProviderRegistration]]) -> None:
        part, members = group
        for r in reversed(members):
            conn.cas_until(
                [("DELETE FROM {ks}.tree WHERE part = ? AND provider = ?", (part, r.uuid)),
                 ("DELETE FROM {ks}.tree WHERE part = ? AND provider = ? AND kind = 'p' AND key = '' IF EXISTS",
                  (part, r.uuid))],
                done=lambda uuid=r.uuid: not providers.exists(conn, part, uuid),
            )

    _each(pool, delete_group, inserted, [])
    _each(pool, lambda r: providers.release_name(conn, r.name, r.uuid), names, [])
    _each(pool, lambda r: providers.release_uuid(conn, r.uuid, placed[r.uuid][0]), uuids, [])
