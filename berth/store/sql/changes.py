"""The change feed: which providers changed since a reader last looked.

Write paths call ``touch`` (a provider's name, tree, inventories, usages,
traits or aggregates changed), ``forget`` (a provider was deleted) or
``catalog_changed`` (a resource class was renamed or deleted). Nothing is
written until the transaction is about to commit: then the change counter is
bumped once and every touched provider is stamped with the new number. The
counter row is updated last, so on PostgreSQL concurrent writers hold its row
lock only for the instant before they commit, after all their provider locks:
numbers are handed out in commit order and a reader that sees number N sees
every change up to N.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from berth.placement.model import Inventory, ProviderChanges, ProviderSnapshot
from berth.store.sql import schema

_rp = schema.resource_providers
_counter = schema.change_counter
_removed = schema.removed_providers

_PENDING = "berth_pending_changes"

# How many changes a reader may fall behind before the tombstones it would
# need are pruned (it then reads everything again).
TOMBSTONE_HORIZON = 1_000_000


@dataclasses.dataclass
class _Pending:
    touched: set[int] = dataclasses.field(default_factory=set)
    removed: set[str] = dataclasses.field(default_factory=set)
    catalog: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class _Cursor:
    store_id: str
    seq: int
    catalog_seq: int

    def encode(self) -> str:
        return f"{self.store_id}:{self.seq}:{self.catalog_seq}"

    @classmethod
    def decode(cls, text: str | None) -> _Cursor | None:
        try:
            store_id, seq, catalog_seq = (text or "").split(":")
            return cls(store_id, int(seq), int(catalog_seq))
        except ValueError:
            return None


def _pending(conn: Connection) -> _Pending:
    pending = conn.info.get(_PENDING)
    if pending is None:
        pending = conn.info[_PENDING] = _Pending()
    return pending


def touch(conn: Connection, provider_ids: Iterable[int]) -> None:
    _pending(conn).touched.update(provider_ids)


def forget(conn: Connection, provider_uuid: str) -> None:
    _pending(conn).removed.add(provider_uuid)


def catalog_changed(conn: Connection) -> None:
    _pending(conn).catalog = True


def flush(conn: Connection) -> None:
    """Stamp what this transaction changed; called just before commit."""
    pending: _Pending | None = conn.info.pop(_PENDING, None)
    if pending is None or not (pending.touched or pending.removed or pending.catalog):
        return
    values: dict = {"seq": _counter.c.seq + 1}
    if pending.catalog:
        values["catalog_seq"] = _counter.c.seq + 1
    if pending.removed:
        horizon = _counter.c.seq + 1 - TOMBSTONE_HORIZON
        values["forgotten_seq"] = sa.case(
            (horizon > _counter.c.forgotten_seq, horizon), else_=_counter.c.forgotten_seq
        )
    seq, forgotten = conn.execute(
        _counter.update().where(_counter.c.id == 1).values(**values)
        .returning(_counter.c.seq, _counter.c.forgotten_seq)
    ).one()
    ids = sorted(pending.touched)
    for start in range(0, len(ids), 500):
        conn.execute(_rp.update().where(_rp.c.id.in_(ids[start:start + 500])).values(change_seq=seq))
    if pending.removed:
        conn.execute(_removed.delete().where(_removed.c.uuid.in_(sorted(pending.removed))))
        conn.execute(_removed.insert(), [{"uuid": u, "change_seq": seq} for u in sorted(pending.removed)])
        conn.execute(_removed.delete().where(_removed.c.change_seq <= forgotten))


def read_changes(conn: Connection, cursor_text: str | None) -> ProviderChanges:
    counter = conn.execute(sa.select(_counter).where(_counter.c.id == 1)).one()
    now = _Cursor(counter.store_id, counter.seq, counter.catalog_seq)
    since = _Cursor.decode(cursor_text)
    complete = (
        since is None
        or since.store_id != now.store_id
        or since.catalog_seq != now.catalog_seq
        or since.seq < counter.forgotten_seq
        or since.seq > now.seq
    )
    if complete:
        return ProviderChanges(now.encode(), True, _snapshots(conn, None))
    if since.seq == now.seq:
        return ProviderChanges(now.encode(), False, ())
    changed = _snapshots(conn, since.seq)
    present = {p.uuid for p in changed}
    removed = conn.execute(
        sa.select(_removed.c.uuid).where(_removed.c.change_seq > since.seq)
    ).scalars()
    return ProviderChanges(now.encode(), False, changed, tuple(u for u in removed if u not in present))


def _snapshots(conn: Connection, after_seq: int | None) -> tuple[ProviderSnapshot, ...]:
    """Every provider, or those changed after ``after_seq``, in id order."""
    parent = _rp.alias("parent")
    root = _rp.alias("root")
    chosen = sa.select(_rp.c.id)
    if after_seq is not None:
        chosen = chosen.where(_rp.c.change_seq > after_seq)
    chosen_ids = chosen.scalar_subquery() if after_seq is not None else None

    def restrict(select: sa.Select, column) -> sa.Select:
        return select if chosen_ids is None else select.where(column.in_(chosen_ids))

    rows = conn.execute(
        restrict(
            sa.select(_rp.c.id, _rp.c.uuid, _rp.c.name, _rp.c.generation, _rp.c.cell,
                      parent.c.uuid.label("parent_uuid"), root.c.uuid.label("root_uuid"))
            .outerjoin(parent, parent.c.id == _rp.c.parent_provider_id)
            .join(root, root.c.id == _rp.c.root_provider_id)
            .order_by(_rp.c.id),
            _rp.c.id,
        )
    ).all()
    inventories: dict[int, dict[str, Inventory]] = collections.defaultdict(dict)
    inv, rc = schema.inventories, schema.resource_classes
    for r in conn.execute(
        restrict(sa.select(inv, rc.c.name).join(rc, rc.c.id == inv.c.resource_class_id), inv.c.resource_provider_id)
    ):
        inventories[r.resource_provider_id][r.name] = Inventory(
            r.name, r.total, r.reserved, r.min_unit, r.max_unit, r.step_size, r.allocation_ratio
        )
    usages: dict[int, dict[str, int]] = collections.defaultdict(dict)
    alloc = schema.allocations
    for provider_id, name, used in conn.execute(
        restrict(
            sa.select(alloc.c.resource_provider_id, rc.c.name, sa.func.sum(alloc.c.used))
            .join(rc, rc.c.id == alloc.c.resource_class_id)
            .group_by(alloc.c.resource_provider_id, rc.c.name),
            alloc.c.resource_provider_id,
        )
    ):
        usages[provider_id][name] = int(used)
    traits: dict[int, set[str]] = collections.defaultdict(set)
    pt, tr = schema.provider_traits, schema.traits
    for provider_id, name in conn.execute(
        restrict(sa.select(pt.c.resource_provider_id, tr.c.name).join(tr, tr.c.id == pt.c.trait_id),
                 pt.c.resource_provider_id)
    ):
        traits[provider_id].add(name)
    aggregates: dict[int, set[str]] = collections.defaultdict(set)
    pa = schema.provider_aggregates
    for provider_id, aggregate in conn.execute(
        restrict(sa.select(pa.c.resource_provider_id, pa.c.aggregate_uuid), pa.c.resource_provider_id)
    ):
        aggregates[provider_id].add(aggregate)
    return tuple(
        ProviderSnapshot(
            uuid=r.uuid,
            name=r.name,
            generation=r.generation,
            root_provider_uuid=r.root_uuid,
            parent_provider_uuid=r.parent_uuid,
            inventories=inventories.get(r.id, {}),
            usages=usages.get(r.id, {}),
            traits=frozenset(traits.get(r.id, ())),
            aggregates=frozenset(aggregates.get(r.id, ())),
            cell=r.cell,
        )
        for r in rows
    )
