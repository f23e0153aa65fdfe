"""Builds in Cassandra: a build is one partition of ``builds`` (its JSON
document and version), created with ``IF NOT EXISTS`` and replaced with
``IF version = ?``, one lightweight transaction each.

The lookups cannot join that transaction (another table, other
partitions), so they are written ahead and checked on read: before a save,
the entries the new document calls for (the conductor's queue
``build_work``, the agents' ``build_hosts``) are inserted, tagged with the
version being written; a reader checks each entry against the document it
names and deletes those that the document no longer backs, but only up to
the version it read, so an entry written ahead of a save still in flight
survives. A crash between the two writes leaves an entry that a reader
removes, never a document without its entries.
"""

from __future__ import annotations

import dataclasses

from berth.conductor.model import Assignment, Build, BuildExists, BuildNotFound
from berth.placement import errors
from berth.store import build_codec
from berth.store.cassandra.session import Connection

# The order of creation, for paging: one partition of (created_at, id).
# A partition per day or so would be the next step for a long-lived fleet.
_ORDER_BUCKET = "all"
_WORK_BUCKET = "all"

_SELECT = "SELECT version, body FROM {ks}.builds WHERE id = ?"


def create_build(conn: Connection, build: Build) -> Build:
    stored = dataclasses.replace(build, version=1)
    body = build_codec.encode(stored)
    _write_ahead(conn, stored)
    conn.write_plain([(
        "INSERT INTO {ks}.build_order (bucket, created_at, id) VALUES (?, ?, ?)",
        (_ORDER_BUCKET, build.created_at, build.id),
    )])
    result = conn.cas(
        [("INSERT INTO {ks}.builds (id, version, body) VALUES (?, 1, ?) IF NOT EXISTS", (build.id, body))],
        resolve=lambda: _is_stored(conn, build.id, 1, body),
    )
    if not result.applied:
        raise BuildExists(build.id)
    return stored


def get_build(conn: Connection, build_id: str, serial: bool = False) -> Build:
    build = _find(conn, build_id, serial)
    if build is None:
        raise BuildNotFound(build_id)
    return build


def list_builds(conn: Connection, limit: int, marker: str | None) -> list[Build]:
    if marker is None:
        rows = conn.execute(
            "SELECT id FROM {ks}.build_order WHERE bucket = ? LIMIT ?", (_ORDER_BUCKET, limit)
        )
    else:
        after = get_build(conn, marker)
        rows = conn.execute(
            "SELECT id FROM {ks}.build_order WHERE bucket = ? AND (created_at, id) > (?, ?) LIMIT ?",
            (_ORDER_BUCKET, after.created_at, after.id, limit),
        )
    # A creation that never applied leaves an order entry without a build.
    return [b for b in (_find(conn, r.id) for r in rows) if b is not None]


def save_build(conn: Connection, build: Build) -> Build:
    stored = dataclasses.replace(build, version=build.version + 1)
    body = build_codec.encode(stored)
    _write_ahead(conn, stored)
    result = conn.cas(
        [("UPDATE {ks}.builds SET version = ?, body = ? WHERE id = ? IF version = ?",
          (stored.version, body, build.id, build.version))],
        resolve=lambda: _is_stored(conn, build.id, stored.version, body),
    )
    if not result.applied:
        if _find(conn, build.id, serial=True) is None:
            raise BuildNotFound(build.id)
        raise errors.ConcurrentUpdate()
    return stored


def list_build_work(conn: Connection, limit: int, now: float | None) -> list[Build]:
    entries: dict[str, list[int]] = {}
    for row in conn.execute("SELECT build_id, version FROM {ks}.build_work WHERE bucket = ?", (_WORK_BUCKET,)):
        entries.setdefault(row.build_id, []).append(row.version)
    found = []
    stale = []
    for build_id, versions in entries.items():
        build = _find(conn, build_id)
        seen = build.version if build is not None else max(versions)
        if build is not None and (build.needs_conductor if now is None else build.needs_conductor_at(now)):
            found.append(build)
        if build is not None and _is_queued(build):
            stale += [(build_id, v) for v in versions if v < seen]
        else:
            stale += [(build_id, v) for v in versions if v <= seen]
    conn.write_plain(
        ("DELETE FROM {ks}.build_work WHERE bucket = ? AND build_id = ? AND version = ?", (_WORK_BUCKET, b, v))
        for b, v in stale
    )
    found.sort(key=lambda b: (b.created_at, b.id))
    return found[:limit]


def list_assignments(conn: Connection, host: str) -> list[Assignment]:
    entries: dict[str, list[int]] = {}
    for row in conn.execute("SELECT build_id, version FROM {ks}.build_hosts WHERE host = ?", (host,)):
        entries.setdefault(row.build_id, []).append(row.version)
    found: list[Assignment] = []
    stale = []
    for build_id, versions in entries.items():
        build = _find(conn, build_id)
        seen = build.version if build is not None else max(versions)
        assignments = build.assignments_on(host) if build is not None else ()
        found += assignments
        stale += [(build_id, v) for v in versions if v < seen or (v == seen and not assignments)]
    conn.write_plain(
        ("DELETE FROM {ks}.build_hosts WHERE host = ? AND build_id = ? AND version = ?", (host, b, v))
        for b, v in stale
    )
    return found


def _write_ahead(conn: Connection, build: Build) -> None:
    statements = [
        ("INSERT INTO {ks}.build_hosts (host, build_id, version) VALUES (?, ?, ?)", (host, build.id, build.version))
        for host in sorted(build.building_hosts)
    ]
    if _is_queued(build):
        statements.append((
            "INSERT INTO {ks}.build_work (bucket, build_id, version) VALUES (?, ?, ?)",
            (_WORK_BUCKET, build.id, build.version),
        ))
    conn.write_plain(statements)


def _is_queued(build: Build) -> bool:
    """In the queue: waits for a conductor now, or will once a deadline passes."""
    return build.needs_conductor or build.next_deadline is not None


def _find(conn: Connection, build_id: str, serial: bool = False) -> Build | None:
    read = conn.read_serial if serial else conn.execute
    rows = read(_SELECT, (build_id,))
    if not rows:
        return None
    return build_codec.decode(rows[0].body, rows[0].version)


def _is_stored(conn: Connection, build_id: str, version: int, body: str) -> bool:
    rows = conn.read_serial(_SELECT, (build_id,))
    return bool(rows) and rows[0].version == version and rows[0].body == body

