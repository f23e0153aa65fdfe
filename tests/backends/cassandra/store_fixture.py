"""A berth store on a Cassandra cluster, shared by a test session.

The cluster is the one named by ``BERTH_TEST_CASSANDRA_HOSTS`` (scripts/run-tests
starts one node with deploy/cassandra/cluster and stops it by PID), or else
one this session starts and stops itself: one node, or as many as
``BERTH_TEST_CASSANDRA_NODES`` says (3 for ``make test-cluster``). The
keyspace's replication factor is the number of nodes (of contact points
given), so on three nodes every write and LWT needs two replicas, as in
production. Creating tables in Cassandra takes seconds, so each xdist
worker creates its keyspace once and every test gets it emptied: the
partitions of each table are deleted, which on a small keyspace is much
faster than TRUNCATE (which flushes and snapshots).
"""

from __future__ import annotations

import os

import pytest

from berth.store.cassandra.schema import FIRST_CUSTOM_CLASS_ID
from berth.store.cassandra.store import CassandraStore
from tests.backends.cassandra.cluster_script import ScriptCluster, require_tools, stop_and_check

HOSTS_VARIABLE = "BERTH_TEST_CASSANDRA_HOSTS"
NODES_VARIABLE = "BERTH_TEST_CASSANDRA_NODES"

# Tables wiped between tests, with their partition-key columns.
_TABLES = {
    "tree": "part",
    "providers": "uuid",
    "provider_names": "name",
    "class_users": "rc",
    "trait_users": "trait",
    "consumers": "uuid",
    "consumers_by_project": "project",
    "claim_tx": "tx",
    "changes": "bucket",
    "builds": "id",
    "build_order": "bucket",
    "build_work": "bucket",
    "build_hosts": "host",
}


def cassandra_hosts(tmp_path_factory, worker: int):
    """Yield contact points: the given cluster, or one started here."""
    given = os.environ.get(HOSTS_VARIABLE)
    if given:
        yield given
        return
    require_tools()
    nodes = int(os.environ.get(NODES_VARIABLE, "1"))
    # 127.0.<40 + worker>.i: apart from the cluster-script tests' addresses.
    cluster = ScriptCluster(tmp_path_factory.mktemp("cassandra-store"), f"127.0.{40 + worker}", nodes)
    cluster.start()  # fails the session (never skips) when it cannot start
    try:
        yield ",".join(cluster.contact_points)
    finally:
        stop_and_check(cluster)


def open_session_store(hosts: str, worker: int) -> CassandraStore:
    replicas = len(hosts.split(","))
    store = CassandraStore(f"cassandra://{hosts}/berth_test_gw{worker}?rf={replicas}")
    store.upgrade()
    return store


def wipe(store: CassandraStore) -> None:
    """Empty the keyspace but for the standard catalog."""
    conn = store.conn
    for table, key in _TABLES.items():
        keys = [getattr(r, key) for r in conn.execute(f"SELECT DISTINCT {key} FROM {{ks}}.{table}")]
        conn.write_plain((f"DELETE FROM {{ks}}.{table} WHERE {key} = ?", (k,)) for k in keys)
    custom = [
        ("DELETE FROM {ks}.catalog WHERE kind = ? AND name = ?", (r.kind, r.name))
        for r in conn.execute("SELECT kind, name, id FROM {ks}.catalog")
        if (r.kind == "rc" and r.id >= FIRST_CUSTOM_CLASS_ID) or (r.kind == "trait" and r.name.startswith("CUSTOM_"))
    ]
    conn.write_plain(custom)
    store.locator = type(store.locator)(conn)
    store.claims.locator = store.locator


@pytest.fixture(scope="session")
def cassandra_session_store(tmp_path_factory, worker_id):
    worker = 0 if worker_id == "master" else int(worker_id.removeprefix("gw"))
    hosts = cassandra_hosts(tmp_path_factory, worker)
    store = open_session_store(next(hosts), worker)
    yield store
    store.close()
    hosts.close()


@pytest.fixture
def cassandra_store(cassandra_session_store):
    wipe(cassandra_session_store)
    return cassandra_session_store
