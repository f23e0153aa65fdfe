"""Timestamps as the SQL store keeps them."""

from __future__ import annotations

import datetime
import time

import sqlalchemy as sa


class _Second:
    """The current second as a naive UTC datetime, made once per second:
    a claim stamps two statements with it, and making it costs several
    times more than reading the clock."""

    second = -1
    value = datetime.datetime(1970, 1, 1)

    @classmethod
    def now(cls) -> datetime.datetime:
        second = int(time.time())
        if second != cls.second:
            # Two threads may both make it; either answer is the same second.
            cls.value = datetime.datetime.fromtimestamp(second, datetime.UTC).replace(tzinfo=None)
            cls.second = second
        return cls.value


def utcnow() -> datetime.datetime:
    """Naive UTC to the second, as stored (SQLite has no time zones)."""
    return _Second.now()


def now_parameter() -> sa.BindParameter:
    """The ``now`` bind parameter of a prepared statement, typed as a
    timestamp so that SQLAlchemy's own conversion stores it (as it does for
    Core statements), not the driver's default adapter, which Python 3.12
    deprecates and which runs once for every place the name appears."""
    return sa.bindparam("now", type_=sa.DateTime())


def as_utc(value: datetime.datetime | None) -> datetime.datetime | None:
    return value.replace(tzinfo=datetime.UTC) if value is not None else None
