"""Registering many new providers at once, all or nothing.

Everything that can be checked is checked before the first write. Then each
uuid and name is claimed by compare-and-set, and each tree's rows are
inserted with one conditional batch on its partition (``IF NOT EXISTS`` on
every provider row). A failure at any step releases what was taken, in
reverse order, so a refused registration leaves nothing behind.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Sequence

from berth.placement import errors
from berth.placement.model import ProviderRegistration
from berth.store.cassandra import catalog, changes, providers, retirement
from berth.store.cassandra.providers import Locator
from berth.store.cassandra.session import Connection, utcnow

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
    for r in registrations:
        retirement.record_uses(
            conn, r.uuid, [class_names[n] for n in r.inventories] + [trait_names[t] for t in r.traits]
        )
    claimed_uuids: list[tuple[str, str]] = []
    claimed_names: list[tuple[str, str]] = []
    inserted: list[tuple[str, str]] = []
    try:
        for r in registrations:
            part, _ = placed[r.uuid]
            providers.claim_uuid(conn, r.uuid, part)
            claimed_uuids.append((r.uuid, part))
            providers.claim_name(conn, r.name, r.uuid)
            claimed_names.append((r.name, r.uuid))
        retirement.confirm_live(conn, [*class_names.values(), *trait_names.values()])
        for part, group in _by_partition(registrations, placed).items():
            _insert_group(conn, part, group, placed, classes, registrations)
            inserted += [(part, r.uuid) for r in group]
    except BaseException:
        _undo(conn, inserted, claimed_names, claimed_uuids)
        raise
    changes.touch(conn, [r.uuid for r in registrations])


def _place(
    conn: Connection, locator: Locator, registrations: Sequence[ProviderRegistration]
) -> dict[str, tuple[str, str]]:
    """uuid -> (partition, root), checking what the writes will rely on."""
    placed: dict[str, tuple[str, str]] = {}
    names: set[str] = set()
    for r in registrations:
        if r.uuid in placed or providers.find_row(conn, locator, r.uuid) is not None:
            raise errors.ProviderExists(r.uuid)
        if r.name in names or conn.execute("SELECT uuid FROM {ks}.provider_names WHERE name = ?", (r.name,)):
            raise errors.DuplicateProviderName(r.name)
        for inv in r.inventories.values():
            if inv.min_unit > inv.max_unit or inv.reserved > inv.total or inv.step_size < 1:
                raise errors.InvalidInventory("inventory of a registered provider is inconsistent")
        names.add(r.name)
        if r.parent_uuid is None:
            placed[r.uuid] = (r.uuid, r.uuid)
        elif r.parent_uuid in placed:
            placed[r.uuid] = placed[r.parent_uuid]
        else:
            parent = providers.find_row(conn, locator, r.parent_uuid, serial=True)
            if parent is None:
                raise errors.InvalidParent("parent provider UUID does not exist.")
            placed[r.uuid] = (parent.part, parent.provider.root_provider_uuid)
    return placed


def _by_partition(
    registrations: Sequence[ProviderRegistration], placed: dict[str, tuple[str, str]]
) -> dict[str, list[ProviderRegistration]]:
    groups: dict[str, list[ProviderRegistration]] = collections.defaultdict(list)
    for r in registrations:
        groups[placed[r.uuid][0]].append(r)
    return groups


def _insert_group(
    conn: Connection,
    part: str,
    group: list[ProviderRegistration],
    placed: dict[str, tuple[str, str]],
    classes: dict[str, int],
    everything: Sequence[ProviderRegistration],
) -> None:
    """One conditional batch for the new providers of one partition."""
    now = utcnow()
    children: dict[str, set[str]] = collections.defaultdict(set)
    for r in everything:
        if r.parent_uuid is not None:
            children[r.parent_uuid].add(r.uuid)
    ours = {r.uuid for r in group}
    statements: list[tuple[str, tuple]] = []
    for r in group:
        statements.append((
            _INSERT,
            (part, r.uuid, r.name, r.parent_uuid, placed[r.uuid][1], time.time_ns(),
             set(r.traits) or None, set(r.aggregates) or None, children.get(r.uuid) or None, r.cell, now),
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
    conn: Connection,
    inserted: list[tuple[str, str]],
    names: list[tuple[str, str]],
    uuids: list[tuple[str, str]],
) -> None:
    for part, uuid in reversed(inserted):
        conn.cas_until(
            [("DELETE FROM {ks}.tree WHERE part = ? AND provider = ?", (part, uuid)),
             ("DELETE FROM {ks}.tree WHERE part = ? AND provider = ? AND kind = 'p' AND key = '' IF EXISTS",
              (part, uuid))],
            done=lambda part=part, uuid=uuid: not providers.exists(conn, part, uuid),
        )
    for name, uuid in reversed(names):
        providers.release_name(conn, name, uuid)
    for uuid, part in reversed(uuids):
        providers.release_uuid(conn, uuid, part)
