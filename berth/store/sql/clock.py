"""Timestamps as the SQL store keeps them."""

from __future__ import annotations

import datetime


def utcnow() -> datetime.datetime:
    """Naive UTC, as stored (SQLite has no time zones)."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)


def as_utc(value: datetime.datetime | None) -> datetime.datetime | None:
    return value.replace(tzinfo=datetime.UTC) if value is not None else None
