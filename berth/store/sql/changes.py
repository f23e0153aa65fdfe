"""The change feed: which providers changed since a reader last looked.

Write paths call ``touch`` (a provider's name, tree, cell, inventories,
traits or aggregates changed), ``touch_usages`` (only what is allocated from
it changed: a claim), ``forget`` (a provider was deleted) or
``catalog_changed`` (a resource class was renamed or deleted). Nothing is
written until the transaction is about to commit: then the change counter is
bumped once and every touched provider is stamped with the new number, in
``change_seq``, and in ``shape_seq`` too unless only its usages changed. A
reader then reads all of a provider whose shape changed since its cursor,
and only the usages of the others. The
counter row is updated last, so on PostgreSQL concurrent writers hold its row
lock only for the instant before they commit, after all their provider locks:
numbers are handed out in commit order and a reader that sees number N sees
every change up to N.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterable, Sequence

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from berth.placement.model import Inventory, ProviderChanges, ProviderSnapshot, UsageChange
from berth.store.sql import schema
from berth.store.sql.clock import now_parameter, utcnow
from berth.store.sql.prepared import Prepared, in_list, in_values
from berth.store.sql.usages import allocated_from_inventory

_rp = schema.resource_providers
_inv, _rc = schema.inventories, schema.resource_classes
_alloc = schema.allocations
_counter = schema.change_counter
_removed = schema.removed_providers

_PENDING = "berth_pending_changes"

# How many changes a reader may fall behind before the tombstones it would
# need are pruned (it then reads everything again).
TOMBSTONE_HORIZON = 1_000_000


@dataclasses.dataclass
class _Pending:
    touched: set[int] = dataclasses.field(default_factory=set)
    # Providers of which only the usages changed, and those of them whose
    # generation moves too (a claim's).
    usages: set[int] = dataclasses.field(default_factory=set)
    bumped: set[int] = dataclasses.field(default_factory=set)
    removed: set[str] = dataclasses.field(default_factory=set)
    catalog: bool = False


class _Cursor(msgspec.Struct, frozen=True):
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


def touch_usages(conn: Connection, provider_ids: Iterable[int], bumped: Iterable[int] = ()) -> None:
    """Only what is allocated from these providers changed; ``bumped`` of
    them also get generation + 1 at commit, in the statement that stamps
    them (one pass over their rows, not two)."""
    pending = _pending(conn)
    pending.usages.update(provider_ids)
    pending.bumped.update(bumped)


def forget(conn: Connection, provider_uuid: str) -> None:
    _pending(conn).removed.add(provider_uuid)


def catalog_changed(conn: Connection) -> None:
    _pending(conn).catalog = True


# The counter is bumped by a plain UPDATE and the stamps read it back in a
# subquery: on SQLite, RETURNING costs more than the update itself (its
# rows go through a temporary table), and the claim is the hottest write.
_BUMP_COUNTER = Prepared(lambda: _counter.update().where(_counter.c.id == 1).values(seq=_counter.c.seq + 1))
_CURRENT_SEQ = sa.select(_counter.c.seq).where(_counter.c.id == 1).scalar_subquery()


def _stamp(shape: bool, bump: bool) -> Prepared:
    def build(size: int) -> sa.Update:
        values: dict = {"change_seq": _CURRENT_SEQ}
        if shape:
            values["shape_seq"] = _CURRENT_SEQ
        if bump:
            values["generation"] = _rp.c.generation + 1
            values["updated_at"] = now_parameter()
        return _rp.update().where(_rp.c.id.in_(in_list("provider", size))).values(**values)

    return Prepared(build)


# By (shape changed, generation bumped).
_STAMPS = {(shape, bump): _stamp(shape, bump) for shape in (False, True) for bump in (False, True)}
# Stamps go out in slices of at most this many providers (one statement each).
_STAMP_SLICE = 500


def flush(conn: Connection) -> None:
    """Stamp what this transaction changed; called just before commit."""
    pending: _Pending | None = conn.info.pop(_PENDING, None)
    if pending is None or not (pending.touched or pending.usages or pending.removed or pending.catalog):
        return
    if pending.removed or pending.catalog:
        seq, forgotten = _bump_counter_and_horizons(conn, pending)
    else:
        _BUMP_COUNTER.run(conn)
    shaped, bumped, now = pending.touched, pending.bumped, utcnow()
    groups = {
        (True, True): shaped & bumped,
        (True, False): shaped - bumped,
        (False, True): bumped - shaped,
        (False, False): pending.usages - shaped - bumped,
    }
    for kind, touched in groups.items():
        ids = sorted(touched)
        for start in range(0, len(ids), _STAMP_SLICE):
            chunk = ids[start:start + _STAMP_SLICE]
            _STAMPS[kind].run(conn, {"now": now, **in_values("provider", chunk)}, shape=len(chunk))
    if pending.removed:
        conn.execute(_removed.delete().where(_removed.c.uuid.in_(sorted(pending.removed))))
        conn.execute(_removed.insert(), [{"uuid": u, "change_seq": seq} for u in sorted(pending.removed)])
        conn.execute(_removed.delete().where(_removed.c.change_seq <= forgotten))


def _bump_counter_and_horizons(conn: Connection, pending: _Pending) -> tuple[int, int]:
    """The next change number, moving the catalog's mark (a class renamed
    or deleted) and the tombstones' pruning horizon as the change needs."""
    values: dict = {"seq": _counter.c.seq + 1}
    if pending.catalog:
        values["catalog_seq"] = _counter.c.seq + 1
    if pending.removed:
        values["removed_seq"] = _counter.c.seq + 1
        horizon = _counter.c.seq + 1 - TOMBSTONE_HORIZON
        values["forgotten_seq"] = sa.case(
            (horizon > _counter.c.forgotten_seq, horizon), else_=_counter.c.forgotten_seq
        )
    seq, forgotten = conn.execute(
        _counter.update().where(_counter.c.id == 1).values(**values)
        .returning(_counter.c.seq, _counter.c.forgotten_seq)
    ).one()
    return seq, forgotten


_READ_COUNTER = Prepared(lambda: sa.select(
    _counter.c.store_id, _counter.c.seq, _counter.c.catalog_seq, _counter.c.forgotten_seq,
    _counter.c.removed_seq,
).where(_counter.c.id == 1))
_REMOVED_SINCE = Prepared(lambda: sa.select(_removed.c.uuid).where(_removed.c.change_seq > sa.bindparam("after")))


def read_changes(conn: Connection, cursor_text: str | None) -> ProviderChanges:
    """Everything that changed since the cursor, in one snapshot (the
    caller's transaction)."""
    (store_id, seq, catalog_seq, forgotten_seq, removed_seq), = _READ_COUNTER.rows(conn)
    now = _Cursor(store_id, seq, catalog_seq)
    since = _Cursor.decode(cursor_text)
    if _needs_complete_read(since, now, forgotten_seq):
        return ProviderChanges(now.encode(), True, _snapshots(conn, None))
    if since.seq == now.seq:
        return ProviderChanges(now.encode(), False, ())
    after = {"after": since.seq}
    usages, reshaped = _usages_of(_CHANGED_WITH_USAGES.rows(conn, after), since)
    changed = _snapshots(conn, since.seq) if reshaped else ()
    present = {p.uuid for p in changed}
    removed = [uuid for uuid, in _REMOVED_SINCE.rows(conn, after)] if removed_seq > since.seq else []
    return ProviderChanges(
        now.encode(), False, changed, tuple(u for u in removed if u not in present),
        tuple(UsageChange(uuid, used) for uuid, used in usages.items()),
    )


def read_usage_changes(conn: Connection, cursor_text: str | None) -> ProviderChanges | None:
    """The usual read, when only usages changed since the cursor (claims):
    the counter and those usages in one statement, which needs no
    transaction of its own to see one snapshot. None when the read needs
    more (a first or foreign cursor, a change of shape, a removal): then
    ``read_changes``, in a transaction."""
    since = _Cursor.decode(cursor_text)
    if since is None:
        return None
    counter, changed = None, []
    for row in _COUNTER_AND_CHANGED_USAGES.rows(conn, {"after": since.seq}):
        if row[0] == _COUNTER_ROW:
            counter = row
        else:
            changed.append(row[1:5])
    _, store_id, seq, _, catalog_seq, forgotten_seq, removed_seq = counter
    now = _Cursor(store_id, seq, catalog_seq)
    if _needs_complete_read(since, now, forgotten_seq) or removed_seq > since.seq:
        return None
    usages, reshaped = _usages_of(changed, since)
    if reshaped:
        return None
    return ProviderChanges(
        now.encode(), False, (), (), tuple(UsageChange(uuid, used) for uuid, used in usages.items()),
    )


def _needs_complete_read(since: _Cursor | None, now: _Cursor, forgotten_seq: int) -> bool:
    """Whether a reader at ``since`` must read everything again: a first
    read, another store's or another catalog's cursor, or one from before
    the tombstones it would need were pruned."""
    return (
        since is None
        or since.store_id != now.store_id
        or since.catalog_seq != now.catalog_seq
        or since.seq < forgotten_seq
        or since.seq > now.seq
    )


def _usages_of(rows: Iterable[Sequence], since: _Cursor) -> tuple[dict[str, dict[str, int]], bool]:
    """The usages of the changed providers whose shape did not change since
    the cursor, by uuid and class; and whether any shape did change."""
    usages: dict[str, dict[str, int]] = {}
    reshaped = False
    for uuid, shape_seq, name, used in rows:
        if shape_seq > since.seq:
            reshaped = True
            continue
        found = usages.setdefault(uuid, {})
        if used is not None:  # an inventory nothing is allocated from: no usage, as in _USAGES
            found[name] = int(used)
    return usages, reshaped


# The providers changed after a cursor, when their shape last changed (a
# provider whose shape changed too is read whole, by _snapshots) and their
# usages, in one query: one row per inventory, with what is allocated from
# it (null for nothing), or one row of nulls for a provider without
# inventory. A sum per inventory reads the allocations' (provider, class)
# index in order; grouping the allocations instead took a temporary B-tree
# and nearly twice the instructions. A class allocated without inventory
# (none the candidate index would show) is not reported.
def _changed_with_usages(leading: tuple = (), trailing: tuple = ()) -> sa.Select:
    """``leading`` and ``trailing`` columns go around the four it reads
    (to line it up with the counter's row in a UNION)."""
    return (
        sa.select(*leading, _rp.c.uuid, _rp.c.shape_seq, _rc.c.name, allocated_from_inventory(), *trailing)
        .select_from(_rp)
        .outerjoin(_inv, _inv.c.resource_provider_id == _rp.c.id)
        .outerjoin(_rc, _rc.c.id == _inv.c.resource_class_id)
        .where(_rp.c.change_seq > sa.bindparam("after"))
    )


_CHANGED_WITH_USAGES = Prepared(_changed_with_usages)
_COUNTER_ROW = 0
# The counter's row (kind 0), then _CHANGED_WITH_USAGES's rows (kind 1), in
# one statement; the columns line up by type (PostgreSQL's UNION needs it).
_COUNTER_AND_CHANGED_USAGES = Prepared(lambda: sa.union_all(
    sa.select(
        sa.literal(_COUNTER_ROW), _counter.c.store_id, _counter.c.seq, sa.cast(sa.null(), sa.String),
        _counter.c.catalog_seq, _counter.c.forgotten_seq, _counter.c.removed_seq,
    ).where(_counter.c.id == 1),
    _changed_with_usages(
        leading=(sa.literal(1),), trailing=(sa.cast(sa.null(), sa.BigInteger), sa.cast(sa.null(), sa.BigInteger)),
    ),
))


_parent = _rp.alias("parent")
_root = _rp.alias("root")
_pt, _traits = schema.provider_traits, schema.traits
_pa = schema.provider_aggregates


def _snapshot_read(select: Callable[[], sa.Select], provider_column) -> Prepared:
    """One of the snapshot's reads, for every provider (shape False) or for
    those whose shape changed after the bound ``after`` (shape True)."""

    def build(changed_only: bool) -> sa.Select:
        statement = select()
        if changed_only:
            # change_seq's index finds the rows (a change of shape moves
            # both numbers); shape_seq has none, so no planner picks it.
            changed = (
                sa.select(_rp.c.id)
                .where(_rp.c.change_seq > sa.bindparam("after"), _rp.c.shape_seq > sa.bindparam("after"))
                .scalar_subquery()
            )
            statement = statement.where(provider_column.in_(changed))
        return statement

    return Prepared(build)


_PROVIDERS = _snapshot_read(
    lambda: sa.select(_rp.c.id, _rp.c.uuid, _rp.c.name, _rp.c.generation, _rp.c.cell,
                      _parent.c.uuid, _root.c.uuid)
    .outerjoin(_parent, _parent.c.id == _rp.c.parent_provider_id)
    .join(_root, _root.c.id == _rp.c.root_provider_id)
    .order_by(_rp.c.id),
    _rp.c.id,
)
_INVENTORIES = _snapshot_read(
    lambda: sa.select(
        _inv.c.resource_provider_id, _rc.c.name, _inv.c.total, _inv.c.reserved, _inv.c.min_unit,
        _inv.c.max_unit, _inv.c.step_size, _inv.c.allocation_ratio,
    ).join(_rc, _rc.c.id == _inv.c.resource_class_id),
    _inv.c.resource_provider_id,
)
_USAGES = _snapshot_read(
    lambda: sa.select(_alloc.c.resource_provider_id, _rc.c.name, sa.func.sum(_alloc.c.used))
    .join(_rc, _rc.c.id == _alloc.c.resource_class_id)
    .group_by(_alloc.c.resource_provider_id, _rc.c.name),
    _alloc.c.resource_provider_id,
)
_TRAITS = _snapshot_read(
    lambda: sa.select(_pt.c.resource_provider_id, _traits.c.name).join(_traits, _traits.c.id == _pt.c.trait_id),
    _pt.c.resource_provider_id,
)
_AGGREGATES = _snapshot_read(
    lambda: sa.select(_pa.c.resource_provider_id, _pa.c.aggregate_uuid),
    _pa.c.resource_provider_id,
)


def _snapshots(conn: Connection, after_seq: int | None) -> tuple[ProviderSnapshot, ...]:
    """Every provider, or those whose shape changed after ``after_seq``, in id order."""
    changed_only = after_seq is not None
    params = {"after": after_seq} if changed_only else {}

    def read(statement: Prepared) -> list[tuple]:
        return statement.rows(conn, params, shape=changed_only)

    rows = read(_PROVIDERS)
    inventories: dict[int, dict[str, Inventory]] = collections.defaultdict(dict)
    for provider_id, name, total, reserved, min_unit, max_unit, step_size, ratio in read(_INVENTORIES):
        inventories[provider_id][name] = Inventory(name, total, reserved, min_unit, max_unit, step_size, ratio)
    usages: dict[int, dict[str, int]] = collections.defaultdict(dict)
    for provider_id, name, used in read(_USAGES):
        usages[provider_id][name] = int(used)
    traits: dict[int, set[str]] = collections.defaultdict(set)
    for provider_id, name in read(_TRAITS):
        traits[provider_id].add(name)
    aggregates: dict[int, set[str]] = collections.defaultdict(set)
    for provider_id, aggregate in read(_AGGREGATES):
        aggregates[provider_id].add(aggregate)
    return tuple(
        ProviderSnapshot(
            uuid=uuid,
            name=name,
            generation=generation,
            root_provider_uuid=root_uuid,
            parent_provider_uuid=parent_uuid,
            inventories=inventories.get(provider_id, {}),
            usages=usages.get(provider_id, {}),
            traits=frozenset(traits.get(provider_id, ())),
            aggregates=frozenset(aggregates.get(provider_id, ())),
            cell=cell,
        )
        for provider_id, uuid, name, generation, cell, parent_uuid, root_uuid in rows
    )
