"""A tree partition read into typed rows: providers, inventories and
allocations, with the usage sums a claim or an inventory change checks."""

from __future__ import annotations

import collections
import dataclasses
import datetime

from berth.placement.model import Inventory, ResourceProvider, Timestamps
from berth.store.cassandra.session import Connection, as_utc

# Allocation row states. A claim writes its new rows 'pending' and marks the
# consumer's old ones 'releasing'; committing makes pending rows 'held' and
# deletes releasing ones, aborting does the reverse.
HELD, PENDING, RELEASING = "held", "pending", "releasing"

_COLUMNS = (
    "provider, kind, key, name, parent, root, generation, created_seq, traits, aggregates, children, cell, "
    "total, reserved, min_unit, max_unit, step_size, allocation_ratio, "
    "consumer, rc, used, state, tx, release_tx, writer, created_at, updated_at"
)
SELECT_PARTITION = f"SELECT {_COLUMNS} FROM {{ks}}.tree WHERE part = ?"
SELECT_ALL = f"SELECT part, {_COLUMNS} FROM {{ks}}.tree"


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderRow:
    """A provider as stored, with what only the store needs."""

    part: str
    provider: ResourceProvider
    created_seq: int
    traits: frozenset[str]
    aggregates: frozenset[str]
    children: frozenset[str]
    cell: str | None = None
    writer: str | None = None  # who last compare-and-set the row (a read-back names it)

    @property
    def uuid(self) -> str:
        return self.provider.uuid

    @property
    def generation(self) -> int:
        return self.provider.generation


@dataclasses.dataclass(frozen=True, slots=True)
class InventoryRow:
    provider: str
    rc: int
    inventory: Inventory
    changed_at: datetime.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class AllocationRow:
    provider: str
    key: str
    consumer: str
    rc: int
    used: int
    state: str
    tx: str | None
    release_tx: str | None
    changed_at: datetime.datetime | None

    @property
    def counts_as_usage(self) -> bool:
        """Reported usage: held and pending rows (a releasing row's
        replacement is pending)."""
        return self.state != RELEASING


@dataclasses.dataclass(frozen=True, slots=True)
class Partition:
    part: str
    providers: dict[str, ProviderRow]
    inventories: dict[str, dict[int, InventoryRow]]
    allocations: list[AllocationRow]

    def usage(self, provider: str) -> dict[int, int]:
        """Reported usage of one provider by class id."""
        sums: dict[int, int] = collections.Counter()
        for a in self.allocations:
            if a.provider == provider and a.counts_as_usage:
                sums[a.rc] += a.used
        return sums

    def check_usage(self, exclude_consumers: frozenset[str] = frozenset()) -> dict[tuple[str, int], int]:
        """What a claim must fit beside, per (provider, class): every row,
        releasing ones too, except the held rows of the claim's own
        consumers (which the claim replaces)."""
        sums: dict[tuple[str, int], int] = collections.Counter()
        for a in self.allocations:
            if a.state == HELD and a.consumer in exclude_consumers:
                continue
            sums[(a.provider, a.rc)] += a.used
        return sums


def _provider_row(part: str, r) -> ProviderRow:
    return ProviderRow(
        part=part,
        provider=ResourceProvider(
            uuid=r.provider,
            name=r.name,
            generation=r.generation,
            root_provider_uuid=r.root,
            parent_provider_uuid=r.parent,
            timestamps=Timestamps(as_utc(r.created_at), as_utc(r.updated_at)),
        ),
        created_seq=r.created_seq or 0,
        traits=frozenset(r.traits or ()),
        aggregates=frozenset(r.aggregates or ()),
        children=frozenset(r.children or ()),
        cell=r.cell,
        writer=r.writer,
    )


def to_partition(part: str, rows) -> Partition:
    providers: dict[str, ProviderRow] = {}
    inventories: dict[str, dict[int, InventoryRow]] = collections.defaultdict(dict)
    allocations: list[AllocationRow] = []
    for r in rows:
        changed = as_utc(r.updated_at or r.created_at)
        if r.kind == "p":
            providers[r.provider] = _provider_row(part, r)
        elif r.kind == "i":
            inventories[r.provider][r.rc] = InventoryRow(
                r.provider, r.rc,
                Inventory("", r.total, r.reserved, r.min_unit, r.max_unit, r.step_size, r.allocation_ratio),
                changed,
            )
        elif r.kind == "a" and r.used is not None:
            allocations.append(
                AllocationRow(r.provider, r.key, r.consumer, r.rc, r.used, r.state, r.tx, r.release_tx, changed)
            )
    return Partition(part, providers, dict(inventories), allocations)


def read_partition(conn: Connection, part: str, serial: bool = True) -> Partition:
    """The whole tree partition; at SERIAL when a CAS will rest on it."""
    read = conn.read_serial if serial else conn.execute
    return to_partition(part, read(SELECT_PARTITION, (part,)))


def read_all(conn: Connection) -> list[Partition]:
    """Every partition: a full scan, paged by the driver."""
    grouped: dict[str, list] = collections.defaultdict(list)
    for r in conn.execute(SELECT_ALL):
        grouped[r.part].append(r)
    return [to_partition(part, rows) for part, rows in grouped.items()]


def named(inventory: Inventory, name: str) -> Inventory:
    return dataclasses.replace(inventory, resource_class=name)


# Statements on the provider row that every generation compare-and-set uses.
# ``writer`` names the write, so that an unknown outcome can be read back.
BUMP = (
    "UPDATE {ks}.tree SET generation = ?, updated_at = ?, writer = ? "
    "WHERE part = ? AND provider = ? AND kind = 'p' AND key = '' IF generation = ?"
)


def bump(row: ProviderRow, now: datetime.datetime, writer: str) -> tuple[str, tuple]:
    return BUMP, (row.generation + 1, now, writer, row.part, row.uuid, row.generation)


def written_by(conn: Connection, part: str, provider: str, writer: str) -> bool:
    """Read back at SERIAL whether the provider row's last CAS was ``writer``'s."""
    rows = conn.read_serial(
        "SELECT writer FROM {ks}.tree WHERE part = ? AND provider = ? AND kind = 'p' AND key = ''",
        (part, provider),
    )
    return bool(rows) and rows[0].writer == writer


def bumped(row: ProviderRow, now: datetime.datetime) -> ResourceProvider:
    return dataclasses.replace(
        row.provider,
        generation=row.generation + 1,
        timestamps=dataclasses.replace(row.provider.timestamps, updated_at=now),
    )
