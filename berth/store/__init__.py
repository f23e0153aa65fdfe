"""The store: the only package that speaks SQL or CQL.

``open_store(url)`` picks a backend from the database URL; everything above
this package sees only the ``Store`` protocol of ``port.py``.
"""

from __future__ import annotations

from berth.store.port import Store


def open_store(url: str) -> Store:
    """Return the backend for ``url`` (``sqlite://``, ``postgresql://``,
    ``cassandra://``)."""
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme in ("sqlite", "postgresql"):
        from berth.store.sql.store import SqlStore

        return SqlStore(url)
    if scheme == "cassandra":
        from berth.store.cassandra.store import CassandraStore

        return CassandraStore(url)
    raise ValueError(f"unsupported database URL scheme: {scheme!r}")


__all__ = ["Store", "open_store"]
