"""Consumers of one type per provider tree, for the scheduler's
max_instances_per_host filter."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from berth.placement.model import UNKNOWN_CONSUMER_TYPE
from berth.store.sql import schema

_alloc = schema.allocations
_consumers = schema.consumers
_rp = schema.resource_providers
_root = schema.resource_providers.alias("root")

# Roots per query: below SQLite's oldest limit on bound parameters (999),
# so that a search over the whole fleet still reads its counts.
_CHUNK = 900


def count_consumers(conn: Connection, root_uuids: Iterable[str], consumer_type: str) -> dict[str, int]:
    """root uuid -> distinct consumers of ``consumer_type`` holding
    allocations in its tree; 0 for every root asked without any."""
    wanted = sorted(set(root_uuids))
    counts = dict.fromkeys(wanted, 0)
    if consumer_type == UNKNOWN_CONSUMER_TYPE:
        # A type never set is NULL in the table and reported "unknown".
        of_type = sa.or_(_consumers.c.consumer_type.is_(None), _consumers.c.consumer_type == consumer_type)
    else:
        of_type = _consumers.c.consumer_type == consumer_type
    held = (
        _alloc.join(_rp, _rp.c.id == _alloc.c.resource_provider_id)
        .join(_root, _root.c.id == _rp.c.root_provider_id)
        .join(_consumers, _consumers.c.id == _alloc.c.consumer_id)
    )
    for start in range(0, len(wanted), _CHUNK):
        rows = conn.execute(
            sa.select(_root.c.uuid, sa.func.count(sa.distinct(_consumers.c.id)))
            .select_from(held)
            .where(_root.c.uuid.in_(wanted[start:start + _CHUNK]), of_type)
            .group_by(_root.c.uuid)
        ).all()
        counts.update((uuid, int(count)) for uuid, count in rows)
    return counts
