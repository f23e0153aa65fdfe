"""Moving a provider (and its subtree) under another parent, all or nothing.

A move changes several provider rows: the provider's parent and root, the
new and old parents' child sets, every descendant's root. Each row is
guarded by the tree structure it was read with (``parent``, ``root``,
``children``), so a concurrent move, creation of a child or deletion in
between makes the move fail with a conflict instead of half-applying it.

* All rows in one tree partition: one conditional batch.
* Rows in several partitions (a root given a parent: it keeps its own
  partition): the protocol of a multi-partition claim, on a ``claim_tx``
  record in state 'move-open'.
  1. Lock every row, partition by partition in key order, with one
     conditional batch each: ``SET moving = tx IF moving = null AND`` its
     structure is as read. A locked row refuses other moves, deletions and
     new children (they check ``moving = null``); claims do not care.
  2. Commit: CAS the record 'move-open' -> 'move-committed'.
  3. Apply, partition by partition: the new values, ``moving = null``,
     ``IF moving = tx`` (idempotent). Then the record is deleted.
  A failure before the commit unlocks instead. The reaper rolls committed
  moves forward and aborts open ones past their deadline.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
import uuid as uuidlib

from berth.placement import errors
from berth.store.cassandra.session import Connection, as_utc, utcnow
from berth.store.cassandra.trees import ProviderRow

# As for claims: the reaper may finish a move past its deadline; a mover
# sends no write within the guard before it.
DEADLINE_S = 60.0
DEADLINE_GUARD_S = 20.0
OPEN, COMMITTED, ABORTED = "move-open", "move-committed", "move-aborted"

_WHERE = "WHERE part = ? AND provider = ? AND kind = 'p' AND key = ''"
_AS_READ = "parent = ? AND root = ? AND children = ?"


@dataclasses.dataclass(frozen=True, slots=True)
class RowChange:
    """One provider row of a move: as read, and what the move makes of it."""

    part: str
    uuid: str
    parent: str | None  # as read
    root: str  # as read
    children: tuple[str, ...]  # as read
    new_parent: str | None
    new_root: str
    child_added: str | None = None
    child_removed: str | None = None
    new_name: str | None = None  # the mover renamed in the same update

    def guard(self) -> tuple:
        return (self.parent, self.root, set(self.children) or None)

    def apply(self, condition: str, condition_params: tuple) -> tuple[str, tuple]:
        sets = ["parent = ?", "root = ?", "moving = null", "updated_at = ?"]
        params: list = [self.new_parent, self.new_root, utcnow()]
        if self.child_added:
            sets.append("children = children + ?")
            params.append({self.child_added})
        if self.child_removed:
            sets.append("children = children - ?")
            params.append({self.child_removed})
        if self.new_name:
            sets.append("name = ?")
            params.append(self.new_name)
        return (
            f"UPDATE {{ks}}.tree SET {', '.join(sets)} {_WHERE} IF {condition}",
            (*params, self.part, self.uuid, *condition_params),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Move:
    tx: str
    rows: tuple[RowChange, ...]
    deadline: float

    @property
    def parts(self) -> list[str]:
        return sorted({r.part for r in self.rows})

    def in_part(self, part: str) -> list[RowChange]:
        return [r for r in self.rows if r.part == part]

    def to_json(self) -> str:
        return json.dumps({"rows": [dataclasses.asdict(r) for r in self.rows], "deadline": self.deadline})

    @classmethod
    def from_json(cls, tx: str, text: str) -> Move:
        data = json.loads(text)
        rows = tuple(RowChange(**{**r, "children": tuple(r["children"])}) for r in data["rows"])
        return cls(tx, rows, data["deadline"])


def plan_move(
    mover: ProviderRow,
    members: dict[str, ProviderRow],
    old_parent: ProviderRow | None,
    new_parent: ProviderRow | None,
    new_name: str | None = None,
) -> Move:
    """The rows a move of ``mover`` (with ``members``, its subtree as read
    at SERIAL) from ``old_parent`` to ``new_parent`` changes."""
    new_root = new_parent.provider.root_provider_uuid if new_parent else mover.uuid
    rows = [_row(mover, new_parent.uuid if new_parent else None, new_root, new_name=new_name)]
    for member in members.values():
        if member.uuid != mover.uuid:
            rows.append(_row(member, member.provider.parent_provider_uuid, new_root))
    if new_parent is not None:
        rows.append(_row(new_parent, new_parent.provider.parent_provider_uuid, new_parent.provider.root_provider_uuid,
                         child_added=mover.uuid))
    if old_parent is not None:
        rows.append(_row(old_parent, old_parent.provider.parent_provider_uuid, old_parent.provider.root_provider_uuid,
                         child_removed=mover.uuid))
    return Move(str(uuidlib.uuid4()), tuple(rows), time.time() + DEADLINE_S)


def _row(row: ProviderRow, new_parent: str | None, new_root: str, **changes: str | None) -> RowChange:
    p = row.provider
    return RowChange(row.part, row.uuid, p.parent_provider_uuid, p.root_provider_uuid, tuple(sorted(row.children)),
                     new_parent, new_root, **changes)


def run(conn: Connection, move: Move) -> None:
    """Apply ``move``; ConcurrentUpdate when a row changed since it was read."""
    if len(move.parts) == 1:
        statements = [r.apply(f"moving = null AND {_AS_READ}", r.guard()) for r in move.rows]
        if not conn.cas(statements, resolve=lambda: _applied(conn, move)).applied:
            raise errors.ConcurrentUpdate("the provider tree changed during the update; retry it")
        return
    _record(conn, move)
    try:
        for part in move.parts:
            _lock(conn, move, part)
        _commit(conn, move)
    except BaseException:
        abort(conn, move)
        raise
    finish(conn, move)


def _record(conn: Connection, move: Move) -> None:
    deadline = datetime.datetime.fromtimestamp(move.deadline, datetime.UTC)
    conn.execute(
        "INSERT INTO {ks}.claim_tx (tx, state, deadline, parts, plan) VALUES (?, ?, ?, ?, ?)",
        (move.tx, OPEN, deadline, set(move.parts), move.to_json()),
    )


def _lock(conn: Connection, move: Move, part: str) -> None:
    if time.time() > move.deadline - DEADLINE_GUARD_S:
        raise errors.ConcurrentUpdate("the update ran out of time; retry it")
    statements = [
        (f"UPDATE {{ks}}.tree SET moving = ? {_WHERE} IF moving = null AND {_AS_READ}", (move.tx, r.part, r.uuid, *r.guard()))
        for r in move.in_part(part)
    ]
    if not conn.cas(statements, resolve=lambda: _locked(conn, move, part)).applied:
        raise errors.ConcurrentUpdate("the provider tree changed during the update; retry it")


def _commit(conn: Connection, move: Move) -> None:
    commit = f"UPDATE {{ks}}.claim_tx SET state = '{COMMITTED}' WHERE tx = ? IF state = '{OPEN}'"
    if not conn.cas([(commit, (move.tx,))], resolve=lambda: _state(conn, move.tx) == COMMITTED).applied:
        raise errors.ConcurrentUpdate("the update took too long and was aborted")


def finish(conn: Connection, move: Move) -> None:
    """Roll a committed move forward (idempotent)."""
    for part in move.parts:
        statements = [r.apply("moving = ?", (move.tx,)) for r in move.in_part(part)]
        conn.cas_until(statements, done=lambda part=part: not _locked_rows(conn, move, part))
    _forget(conn, move)


def abort(conn: Connection, move: Move) -> None:
    """Undo an uncommitted move (unlock its rows), or finish a committed one."""
    abort_ = f"UPDATE {{ks}}.claim_tx SET state = '{ABORTED}' WHERE tx = ? IF state = '{OPEN}'"
    result = conn.cas([(abort_, (move.tx,))], resolve=lambda: _state(conn, move.tx) == ABORTED)
    if not result.applied and result.current and result.current[0].state == COMMITTED:
        finish(conn, move)
        return
    unlock = f"UPDATE {{ks}}.tree SET moving = null {_WHERE} IF moving = ?"
    for part in move.parts:
        for r in move.in_part(part):
            conn.cas_until([(unlock, (r.part, r.uuid, move.tx))], done=lambda r=r: not _is_locked(conn, r, move.tx))
    _forget(conn, move)


def reap(conn: Connection, record) -> bool:
    """Finish a move record that is decided or past its deadline."""
    move = Move.from_json(record.tx, record.plan)
    if record.state == COMMITTED:
        finish(conn, move)
    elif record.state == ABORTED or as_utc(record.deadline) < utcnow():
        abort(conn, move)
    else:
        return False
    return True


def _forget(conn: Connection, move: Move) -> None:
    conn.cas_until(
        [("DELETE FROM {ks}.claim_tx WHERE tx = ? IF EXISTS", (move.tx,))],
        done=lambda: _state(conn, move.tx) is None,
    )


def _state(conn: Connection, tx: str) -> str | None:
    rows = conn.read_serial("SELECT state FROM {ks}.claim_tx WHERE tx = ?", (tx,))
    return rows[0].state if rows else None


def _read(conn: Connection, r: RowChange):
    rows = conn.read_serial(f"SELECT parent, root, children, moving FROM {{ks}}.tree {_WHERE}", (r.part, r.uuid))
    return rows[0] if rows else None


def _is_locked(conn: Connection, r: RowChange, tx: str) -> bool:
    row = _read(conn, r)
    return row is not None and row.moving == tx


def _locked(conn: Connection, move: Move, part: str) -> bool:
    return all(_is_locked(conn, r, move.tx) for r in move.in_part(part))


def _locked_rows(conn: Connection, move: Move, part: str) -> list[str]:
    return [r.uuid for r in move.in_part(part) if _is_locked(conn, r, move.tx)]


def _applied(conn: Connection, move: Move) -> bool:
    """Read back a one-partition move: every row has its new structure."""
    for r in move.rows:
        row = _read(conn, r)
        if row is None or row.parent != r.new_parent or row.root != r.new_root:
            return False
    return True


def touched(move: Move) -> set[str]:
    return {r.uuid for r in move.rows}
