"""Builds in SQL: one row per build holding its JSON document, replaced
under compare-and-set on ``version`` (an UPDATE that names the version it
read: on PostgreSQL a concurrent writer's UPDATE waits for the row and then
finds the version moved). The conductor's queue (``needs_work``) and the
hosts with running attempts (``build_hosts``) change in the same
transaction as the document, so they are never out of step with it."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from berth.conductor.model import Assignment, Build, BuildExists, BuildNotFound
from berth.placement import errors
from berth.store import build_codec
from berth.store.sql import schema

_builds = schema.builds
_hosts = schema.build_hosts


def create_build(conn: Connection, build: Build) -> Build:
    if conn.execute(sa.select(_builds.c.seq).where(_builds.c.id == build.id)).first() is not None:
        raise BuildExists(build.id)
    stored = dataclasses.replace(build, version=1)
    seq = conn.execute(
        sa.insert(_builds).values(
            id=build.id, version=1, needs_work=build.needs_conductor, wake_at=build.next_deadline,
            body=build_codec.encode(stored),
        )
    ).inserted_primary_key[0]
    _write_hosts(conn, seq, stored)
    return stored


def get_build(conn: Connection, build_id: str) -> Build:
    row = conn.execute(
        sa.select(_builds.c.version, _builds.c.body).where(_builds.c.id == build_id)
    ).first()
    if row is None:
        raise BuildNotFound(build_id)
    return build_codec.decode(row.body, row.version)


def list_builds(conn: Connection, limit: int, marker: str | None) -> list[Build]:
    query = sa.select(_builds.c.version, _builds.c.body).order_by(_builds.c.seq).limit(limit)
    if marker is not None:
        after = conn.execute(sa.select(_builds.c.seq).where(_builds.c.id == marker)).scalar()
        if after is None:
            raise BuildNotFound(marker)
        query = query.where(_builds.c.seq > after)
    return [build_codec.decode(r.body, r.version) for r in conn.execute(query)]


def save_build(conn: Connection, build: Build) -> Build:
    stored = dataclasses.replace(build, version=build.version + 1)
    seq = conn.execute(
        sa.update(_builds)
        .where(_builds.c.id == build.id, _builds.c.version == build.version)
        .values(
            version=stored.version, needs_work=build.needs_conductor, wake_at=build.next_deadline,
            body=build_codec.encode(stored),
        )
        .returning(_builds.c.seq)
    ).scalar()
    if seq is None:
        if conn.execute(sa.select(_builds.c.seq).where(_builds.c.id == build.id)).first() is None:
            raise BuildNotFound(build.id)
        raise errors.ConcurrentUpdate()
    conn.execute(sa.delete(_hosts).where(_hosts.c.build_seq == seq))
    _write_hosts(conn, seq, stored)
    return stored


def list_build_work(conn: Connection, limit: int, now: float | None) -> list[Build]:
    waiting = _builds.c.needs_work.is_(True)
    if now is not None:
        waiting = sa.or_(waiting, _builds.c.wake_at <= now)
    rows = conn.execute(
        sa.select(_builds.c.version, _builds.c.body).where(waiting).order_by(_builds.c.seq).limit(limit)
    )
    return [build_codec.decode(r.body, r.version) for r in rows]


def list_assignments(conn: Connection, host: str) -> list[Assignment]:
    rows = conn.execute(
        sa.select(_builds.c.version, _builds.c.body)
        .join(_hosts, _hosts.c.build_seq == _builds.c.seq)
        .where(_hosts.c.host == host)
        .order_by(_builds.c.seq)
    )
    return [a for r in rows for a in build_codec.decode(r.body, r.version).assignments_on(host)]



def _write_hosts(conn: Connection, seq: int, build: Build) -> None:
    hosts = sorted(build.building_hosts)
    if hosts:
        conn.execute(sa.insert(_hosts), [{"host": h, "build_seq": seq} for h in hosts])
