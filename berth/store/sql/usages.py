"""Usage sums: per provider, and per project (and user) by consumer type."""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from berth.placement.model import UNKNOWN_CONSUMER_TYPE, UsageByConsumerType, UsageReport
from berth.store.sql import schema
from berth.store.sql.clock import as_utc

if TYPE_CHECKING:  # providers imports changes, which reads its sums from here
    from berth.store.sql.providers import ProviderRow

_alloc = schema.allocations
_consumers = schema.consumers
_inv = schema.inventories
_rc = schema.resource_classes


def allocated_from_inventory(*conditions: sa.ColumnElement[bool]) -> sa.ScalarSelect:
    """What is allocated from the inventory row of the enclosing query
    (null for nothing), from allocations that also meet ``conditions``:
    read in order from the allocations' (provider, class) index."""
    return (
        sa.select(sa.func.sum(_alloc.c.used))
        .where(
            _alloc.c.resource_provider_id == _inv.c.resource_provider_id,
            _alloc.c.resource_class_id == _inv.c.resource_class_id,
            *conditions,
        )
        .scalar_subquery()
    )


def provider_usages(conn: Connection, row: ProviderRow) -> UsageReport:
    """Usage of every class the provider has inventory of (0 when unused)."""
    records = conn.execute(
        sa.select(
            _rc.c.name,
            sa.func.coalesce(sa.func.sum(_alloc.c.used), 0),
            sa.func.max(sa.func.coalesce(_alloc.c.updated_at, _alloc.c.created_at)),
        )
        .select_from(_inv)
        .join(_rc, _rc.c.id == _inv.c.resource_class_id)
        .outerjoin(
            _alloc,
            sa.and_(
                _alloc.c.resource_provider_id == _inv.c.resource_provider_id,
                _alloc.c.resource_class_id == _inv.c.resource_class_id,
            ),
        )
        .where(_inv.c.resource_provider_id == row.id)
        .group_by(_rc.c.name)
    ).all()
    changed = [when for _, _, when in records if when is not None]
    return UsageReport(
        usages={name: int(used) for name, used, _ in records},
        last_modified=as_utc(max(changed)) if changed else None,
    )


def project_usages(
    conn: Connection, project_id: str, user_id: str | None, consumer_type: str | None
) -> list[UsageByConsumerType]:
    """Sums and consumer counts per consumer type, aggregated by the
    database (a project may hold thousands of allocations)."""
    conditions = [_consumers.c.project_id == project_id]
    if user_id is not None:
        conditions.append(_consumers.c.user_id == user_id)
    if consumer_type == UNKNOWN_CONSUMER_TYPE:
        conditions.append(_consumers.c.consumer_type.is_(None))
    elif consumer_type is not None:
        conditions.append(_consumers.c.consumer_type == consumer_type)
    held = _consumers.join(_alloc, _alloc.c.consumer_id == _consumers.c.id)
    sums = conn.execute(
        sa.select(_consumers.c.consumer_type, _rc.c.name, sa.func.sum(_alloc.c.used))
        .select_from(held.join(_rc, _rc.c.id == _alloc.c.resource_class_id))
        .where(*conditions)
        .group_by(_consumers.c.consumer_type, _rc.c.name)
    ).all()
    # A consumer row exists only while it holds allocations (a claim that
    # clears them deletes it), so the consumers are counted without the
    # join.
    counts = conn.execute(
        sa.select(_consumers.c.consumer_type, sa.func.count())
        .where(*conditions)
        .group_by(_consumers.c.consumer_type)
    ).all()
    # A type never set (NULL) is reported as "unknown", together with any
    # consumer whose type was set to that name.
    usages: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for kind, resource_class, used in sums:
        usages[kind or UNKNOWN_CONSUMER_TYPE][resource_class] += int(used)
    consumers: collections.Counter = collections.Counter()
    for kind, count in counts:
        consumers[kind or UNKNOWN_CONSUMER_TYPE] += int(count)
    return [
        UsageByConsumerType(kind, consumers[kind], dict(usages[kind]))
        for kind in sorted(usages)
    ]
