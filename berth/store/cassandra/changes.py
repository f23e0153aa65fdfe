"""The change feed for the candidate index, on a table partitioned by minute.

Every write that changes a provider appends (minute, timeuuid, provider)
after its compare-and-set applied. A reader's cursor is a time: it reads the
entries from ``cursor - MARGIN_S`` on, so an entry written just before the
cursor but not yet visible to the previous read is not missed. Entries of
the margin may be returned twice, which the index shrugs off (it replaces a
snapshot with the same one). A reader further behind than ``HORIZON_S``, a
cursor from another store, or a rename or deletion of a resource class since
the cursor, gets a complete read.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
import uuid
from collections.abc import Iterable

from cassandra.util import uuid_from_time

from berth.placement.model import ProviderChanges, ProviderSnapshot
from berth.store.cassandra.session import Connection

BUCKET_S = 60
# How late an entry may become visible after its timestamp: the client
# stamps it just before the write, which is acknowledged within the
# cluster's write timeout.
MARGIN_S = 5.0
HORIZON_S = 600.0


@dataclasses.dataclass(frozen=True, slots=True)
class _Cursor:
    store_id: str
    catalog: str
    at: float

    def encode(self) -> str:
        return f"{self.store_id}/{self.catalog}/{self.at:.6f}"

    @classmethod
    def decode(cls, text: str | None) -> _Cursor | None:
        try:
            store_id, catalog, at = (text or "").split("/")
            return cls(store_id, catalog, float(at))
        except ValueError:
            return None


def touch(conn: Connection, providers: Iterable[str]) -> None:
    """Record that ``providers`` changed (after the change applied)."""
    conn.write_plain(entries(providers))


def entries(providers: Iterable[str]) -> list[tuple[str, tuple]]:
    """The statements that record a change of ``providers``, stamped now."""
    now = time.time()
    at = uuid_from_time(now)
    insert = "INSERT INTO {ks}.changes (bucket, at, provider) VALUES (?, ?, ?)"
    return [(insert, (int(now // BUCKET_S), at, p)) for p in sorted(set(providers))]


def catalog_changed(conn: Connection) -> None:
    conn.execute("INSERT INTO {ks}.store_meta (key, value) VALUES ('catalog', ?)", (str(uuid.uuid4()),))


def _meta(conn: Connection) -> tuple[str, str]:
    rows = {r.key: r.value for r in conn.execute("SELECT key, value FROM {ks}.store_meta")}
    return rows.get("store_id", ""), rows.get("catalog", "")


def read_changes(conn: Connection, cursor_text: str | None, snapshots) -> ProviderChanges:
    """``snapshots(uuids or None)`` reads the providers (all when None)."""
    started = time.time()
    store_id, catalog = _meta(conn)
    now = _Cursor(store_id, catalog, started)
    since = _Cursor.decode(cursor_text)
    if (
        since is None
        or since.store_id != store_id
        or since.catalog != catalog
        or since.at > started
        or started - since.at > HORIZON_S
    ):
        return ProviderChanges(now.encode(), True, snapshots(None))
    changed = _changed_since(conn, since.at - MARGIN_S, started)
    if not changed:
        return ProviderChanges(now.encode(), False, ())
    found: tuple[ProviderSnapshot, ...] = snapshots(changed)
    present = {p.uuid for p in found}
    return ProviderChanges(now.encode(), False, found, tuple(sorted(changed - present)))


def _changed_since(conn: Connection, start: float, end: float) -> set[str]:
    changed: set[str] = set()
    select = "SELECT provider FROM {ks}.changes WHERE bucket = ? AND at >= minTimeuuid(?)"
    low = datetime.datetime.fromtimestamp(start, datetime.UTC)
    for bucket in range(int(start // BUCKET_S), int(end // BUCKET_S) + 1):
        changed.update(r.provider for r in conn.execute(select, (bucket, low)))
    return changed

