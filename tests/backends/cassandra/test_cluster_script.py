"""deploy/cassandra/cluster starts a usable single Cassandra node.

One node for the whole module: the driver creates a keyspace and a table and
runs lightweight transactions (compare-and-set on a generation, as berth's
claims do) at SERIAL with QUORUM commits; then the node is stopped by PID.
"""

from __future__ import annotations

import uuid

import pytest

from tests.backends.cassandra.cluster_script import process_is_gone, stop_and_check

import cassandra.cluster as driver  # noqa: E402  (a main dependency of berth)
from cassandra import ConsistencyLevel  # noqa: E402
from cassandra.policies import ConstantReconnectionPolicy, RoundRobinPolicy  # noqa: E402
from cassandra.query import BatchStatement  # noqa: E402

pytestmark = [pytest.mark.cassandra, pytest.mark.xdist_group("cassandra-single-node")]

KEYSPACE = "berth_script_test"


@pytest.fixture(scope="module")
def node(make_cluster):
    return make_cluster(nodes=1, address_block=20)


@pytest.fixture(scope="module")
def session(node):
    profile = driver.ExecutionProfile(
        consistency_level=ConsistencyLevel.QUORUM,
        serial_consistency_level=ConsistencyLevel.SERIAL,
        load_balancing_policy=RoundRobinPolicy(),
        request_timeout=30,
    )
    cluster = driver.Cluster(
        node.contact_points,
        execution_profiles={driver.EXEC_PROFILE_DEFAULT: profile},
        reconnection_policy=ConstantReconnectionPolicy(1.0),
    )
    session = cluster.connect()
    session.execute(
        f"CREATE KEYSPACE {KEYSPACE} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
    )
    session.execute(f"CREATE TABLE {KEYSPACE}.providers (id uuid PRIMARY KEY, gen int, used int)")
    session.execute(
        f"CREATE TABLE {KEYSPACE}.tree (root uuid, id uuid, gen int, used int, PRIMARY KEY (root, id))"
    )
    yield session
    cluster.shutdown()


def create_provider(session, gen: int = 0) -> uuid.UUID:
    provider = uuid.uuid4()
    result = session.execute(
        f"INSERT INTO {KEYSPACE}.providers (id, gen, used) VALUES (%s, %s, 0) IF NOT EXISTS", (provider, gen)
    )
    assert result.was_applied
    return provider


def claim(session, provider: uuid.UUID, seen_gen: int, used: int):
    return session.execute(
        f"UPDATE {KEYSPACE}.providers SET gen = %s, used = %s WHERE id = %s IF gen = %s",
        (seen_gen + 1, used, provider, seen_gen),
    )


def serial_read(session, provider: uuid.UUID):
    statement = driver.SimpleStatement(
        f"SELECT gen, used FROM {KEYSPACE}.providers WHERE id = %s", consistency_level=ConsistencyLevel.SERIAL
    )
    return session.execute(statement, (provider,)).one()


def test_status_shows_the_running_node(node):
    (status,) = node.status()
    assert status["address"] == node.address(1)
    assert status["cql"] is True
    assert status["pid"] and not process_is_gone(status["pid"])


def test_insert_if_not_exists_applies_once(session):
    provider = create_provider(session)
    again = session.execute(
        f"INSERT INTO {KEYSPACE}.providers (id, gen, used) VALUES (%s, 7, 7) IF NOT EXISTS", (provider,)
    )
    assert not again.was_applied
    assert (again.one().gen, again.one().used) == (0, 0)  # the refused row carries the current values


def test_update_if_generation_applies_and_moves_the_generation(session):
    provider = create_provider(session)
    assert claim(session, provider, seen_gen=0, used=2).was_applied
    assert claim(session, provider, seen_gen=1, used=5).was_applied
    row = serial_read(session, provider)
    assert (row.gen, row.used) == (2, 5)


def test_stale_generation_is_refused(session):
    provider = create_provider(session)
    assert claim(session, provider, seen_gen=0, used=1).was_applied
    stale = claim(session, provider, seen_gen=0, used=99)
    assert not stale.was_applied
    assert stale.one().gen == 1  # the current generation, for the caller's retry
    row = serial_read(session, provider)
    assert (row.gen, row.used) == (1, 1)


def test_conditional_batch_in_one_partition_is_all_or_nothing(session):
    root, child = uuid.uuid4(), uuid.uuid4()
    for provider in (root, child):
        session.execute(f"INSERT INTO {KEYSPACE}.tree (root, id, gen, used) VALUES (%s, %s, 0, 0)", (root, provider))
    update = session.prepare(f"UPDATE {KEYSPACE}.tree SET gen = ?, used = ? WHERE root = ? AND id = ? IF gen = ?")

    def claim_both(root_gen: int, child_gen: int):
        batch = BatchStatement(serial_consistency_level=ConsistencyLevel.SERIAL)
        batch.add(update, (root_gen + 1, 1, root, root, root_gen))
        batch.add(update, (child_gen + 1, 1, root, child, child_gen))
        return session.execute(batch)

    assert claim_both(0, 0).was_applied
    assert not claim_both(1, 0).was_applied  # the child's generation is stale: nothing is written
    rows = session.execute(f"SELECT id, gen FROM {KEYSPACE}.tree WHERE root = %s", (root,))
    assert {row.id: row.gen for row in rows} == {root: 1, child: 1}


def test_stop_ends_the_node_process(node, session):
    """Last in the module: stop by PID, and no node process is left."""
    (pid,) = stop_and_check(node)
    assert process_is_gone(pid)
