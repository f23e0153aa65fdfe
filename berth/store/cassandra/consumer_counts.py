"""Consumers of one type per provider tree, for the scheduler's
max_instances_per_host filter.

A tree's allocation rows live in the partitions of its providers: the
root's, and the partition a re-parented subtree kept (a provider never
changes partition), so the tree is walked from its root through the
``children`` of each provider row. Consumer types live in ``consumers``.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

from berth.placement.model import UNKNOWN_CONSUMER_TYPE
from berth.store.cassandra import trees
from berth.store.cassandra.providers import Locator
from berth.store.cassandra.session import Connection
from berth.store.cassandra.trees import Partition

# Consumers per read of their types: one multi-partition read each.
_CHUNK = 100


class _Partitions:
    """Tree partitions read at most once per call."""

    def __init__(self, conn: Connection, locator: Locator) -> None:
        self.conn = conn
        self.locator = locator
        self.read: dict[str, Partition] = {}

    def row(self, uuid: str) -> trees.ProviderRow | None:
        part = self.locator.find(uuid)
        if part is None:
            return None
        if part not in self.read:
            self.read[part] = trees.read_partition(self.conn, part, serial=False)
        return self.read[part].providers.get(uuid)


def _tree_of(partitions: _Partitions, root: str) -> set[str]:
    """The providers of ``root``'s tree (empty when it is not a root)."""
    row = partitions.row(root)
    if row is None or row.provider.root_provider_uuid != root:
        return set()
    found, pending = {root}, list(row.children)
    while pending:
        child = partitions.row(pending.pop())
        if child is not None and child.uuid not in found:
            found.add(child.uuid)
            pending.extend(child.children)
    return found


def _types(conn: Connection, consumers: Iterable[str]) -> dict[str, str]:
    """consumer -> its type, for those that still hold allocations."""
    wanted = sorted(consumers)
    types = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = conn.execute(
            "SELECT uuid, consumer_type, placeholder FROM {ks}.consumers WHERE uuid IN ?",
            (wanted[start:start + _CHUNK],),
        )
        types.update((r.uuid, r.consumer_type or UNKNOWN_CONSUMER_TYPE) for r in rows if not r.placeholder)
    return types


def count_consumers(
    conn: Connection, locator: Locator, root_uuids: Iterable[str], consumer_type: str
) -> dict[str, int]:
    """root uuid -> distinct consumers of ``consumer_type`` holding
    allocations (held, or pending in a claim) in its tree; 0 for every
    root asked without any."""
    wanted = set(root_uuids)
    partitions = _Partitions(conn, locator)
    root_of = {provider: root for root in wanted for provider in _tree_of(partitions, root)}
    holders: dict[str, set[str]] = collections.defaultdict(set)
    for partition in partitions.read.values():
        for allocation in partition.allocations:
            root = root_of.get(allocation.provider)
            if root is not None and allocation.counts_as_usage:
                holders[root].add(allocation.consumer)
    types = _types(conn, set().union(*holders.values()))
    counts = dict.fromkeys(wanted, 0)
    for root, consumers in holders.items():
        counts[root] = sum(1 for consumer in consumers if types.get(consumer) == consumer_type)
    return counts
