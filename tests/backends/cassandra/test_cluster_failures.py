"""A 3-node cluster (RF 3) from deploy/cassandra/cluster survives SIGKILLs.

* One node SIGKILLed: lightweight transactions at SERIAL (QUORUM commits) keep
  succeeding on the two others; the node restarts, rejoins and, as the only
  coordinator, sees the last compare-and-set.
* Every node SIGKILLed: after a restart every acknowledged compare-and-set is
  still there (the commit log is fsynced before a write is acknowledged).

Run with `-m cassandra_cluster` (`make test-cluster`); `-s` prints timings.
"""

from __future__ import annotations

import contextlib
import time
import uuid

import pytest

from tests.backends.cassandra.cluster_script import process_is_gone

import cassandra.cluster as driver  # noqa: E402  (a main dependency of berth)
from cassandra import ConsistencyLevel  # noqa: E402
from cassandra.policies import ConstantReconnectionPolicy, RoundRobinPolicy, WhiteListRoundRobinPolicy  # noqa: E402

pytestmark = [pytest.mark.cassandra_cluster, pytest.mark.xdist_group("cassandra-three-nodes")]

KEYSPACE = "berth_failure_test"
CAS_PER_PHASE = 30


@pytest.fixture(scope="module")
def trio(make_cluster):
    return make_cluster(nodes=3, address_block=30)


def profile(policy) -> driver.ExecutionProfile:
    return driver.ExecutionProfile(
        consistency_level=ConsistencyLevel.QUORUM,
        serial_consistency_level=ConsistencyLevel.SERIAL,
        load_balancing_policy=policy,
        request_timeout=30,
    )


def connect(contact_points: list[str], policy) -> driver.Cluster:
    return driver.Cluster(
        contact_points,
        execution_profiles={driver.EXEC_PROFILE_DEFAULT: profile(policy)},
        reconnection_policy=ConstantReconnectionPolicy(1.0),  # back within a second of a restart
    )


@contextlib.contextmanager
def coordinated_by(address: str):
    """A session whose every request is coordinated by the node at address."""
    cluster = connect([address], WhiteListRoundRobinPolicy([address]))
    try:
        yield cluster.connect()
    finally:
        cluster.shutdown()


@pytest.fixture(scope="module")
def session(trio):
    cluster = connect(trio.contact_points, RoundRobinPolicy())
    session = cluster.connect()
    session.execute(
        f"CREATE KEYSPACE {KEYSPACE} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 3}}"
    )
    session.execute(f"CREATE TABLE {KEYSPACE}.providers (id uuid PRIMARY KEY, gen int)")
    yield session
    cluster.shutdown()


class Counter:
    """One row advanced by compare-and-set: gen g -> g + 1 only if still g."""

    def __init__(self, session):
        self.id = uuid.uuid4()
        self.acknowledged = 0
        insert = f"INSERT INTO {KEYSPACE}.providers (id, gen) VALUES (%s, 0) IF NOT EXISTS"
        assert session.execute(insert, (self.id,)).was_applied

    def advance(self, session, times: int) -> float:
        """Run `times` CAS that must all apply; return the seconds taken."""
        update = session.prepare(f"UPDATE {KEYSPACE}.providers SET gen = ? WHERE id = ? IF gen = ?")
        started = time.monotonic()
        for _ in range(times):
            gen = self.acknowledged
            result = session.execute(update, (gen + 1, self.id, gen))
            assert result.was_applied, f"CAS from gen {gen} refused: current {result.one()}"
            self.acknowledged = gen + 1
        return time.monotonic() - started

    def stale_cas_is_refused(self, session) -> bool:
        stale = self.acknowledged - 1
        result = session.execute(
            f"UPDATE {KEYSPACE}.providers SET gen = %s WHERE id = %s IF gen = %s", (stale + 1, self.id, stale)
        )
        return not result.was_applied and result.one().gen == self.acknowledged

    def serial_read(self, session) -> int:
        statement = driver.SimpleStatement(
            f"SELECT gen FROM {KEYSPACE}.providers WHERE id = %s", consistency_level=ConsistencyLevel.SERIAL
        )
        return session.execute(statement, (self.id,)).one().gen


def driver_pool_is_open(session, address: str) -> bool:
    return any(
        host.address == address and state["open_count"] > 0 for host, state in session.get_pool_state().items()
    )


def wait_until(condition, what: str, timeout: float = 120) -> float:
    """Poll condition() until true; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout:.0f} s waiting until {what}")
        time.sleep(0.2)
    return time.monotonic() - started


def serial_read_answers(counter: Counter, session) -> bool:
    try:
        counter.serial_read(session)
    except (driver.NoHostAvailable, driver.OperationTimedOut):
        return False
    return True


def timed(action) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def test_lwts_continue_while_one_node_is_killed_and_it_rejoins(trio, session):
    counter = Counter(session)
    print(f"\n3 nodes up: {CAS_PER_PHASE} CAS in {counter.advance(session, CAS_PER_PHASE):.2f} s")

    pid = trio.pid(2)
    print(f"kill node2 (pid {pid}): {timed(lambda: trio.kill(2)):.2f} s")
    assert process_is_gone(pid)
    # The driver drops its connection on the socket's EOF; a request racing
    # that would fail as "connection shutdown" whatever the cluster can do.
    wait_until(lambda: not driver_pool_is_open(session, trio.address(2)), "the driver drops node2")
    print(f"2 nodes up: {CAS_PER_PHASE} CAS in {counter.advance(session, CAS_PER_PHASE):.2f} s")
    assert counter.stale_cas_is_refused(session)
    assert counter.serial_read(session) == counter.acknowledged
    assert [node["pid"] is not None for node in trio.status()] == [True, False, True]

    print(f"restart node2: {timed(lambda: trio.start_node(2)):.2f} s")
    assert all(node["all_nodes_answer"] for node in trio.status())
    with coordinated_by(trio.address(2)) as via_node2:
        assert counter.serial_read(via_node2) == counter.acknowledged
        print(f"node2 as coordinator: {CAS_PER_PHASE} CAS in {counter.advance(via_node2, CAS_PER_PHASE):.2f} s")
    counter.advance(session, CAS_PER_PHASE)
    assert counter.serial_read(session) == counter.acknowledged


def test_acknowledged_lwts_survive_sigkill_of_every_node(trio, session):
    counter = Counter(session)
    counter.advance(session, CAS_PER_PHASE)
    pids = [node["pid"] for node in trio.status()]
    for index in (1, 2, 3):
        trio.kill(index)
    assert all(process_is_gone(pid) for pid in pids)

    print(f"\nrestart all 3 nodes after SIGKILL: {timed(trio.start):.2f} s")
    for address in trio.contact_points:
        with coordinated_by(address) as via_node:
            assert counter.serial_read(via_node) == counter.acknowledged
    # The long-lived session reconnects by itself (ConstantReconnectionPolicy).
    waited = wait_until(lambda: serial_read_answers(counter, session), "the first session answers again")
    print(f"first session answering {waited:.2f} s after the restart")
    counter.advance(session, CAS_PER_PHASE)
    assert counter.serial_read(session) == counter.acknowledged
