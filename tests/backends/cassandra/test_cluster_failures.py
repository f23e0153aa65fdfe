"""A 3-node cluster (RF 3) from deploy/cassandra/cluster survives SIGKILLs.

* One node SIGKILLed: lightweight transactions at SERIAL (QUORUM commits) keep
  succeeding on the two others; the node restarts, rejoins and, as the only
  coordinator, sees the last compare-and-set.
* Every node SIGKILLed: after a restart every acknowledged compare-and-set is
  still there (the commit log is fsynced before a write is acknowledged).

Run with `-m cassandra_cluster` (`make test-cluster`); `-s` prints timings.
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.backends.cassandra.cluster_script import process_is_gone

driver = pytest.importorskip("cassandra.cluster", reason="needs cassandra-driver")
from cassandra import ConsistencyLevel  # noqa: E402
from cassandra.policies import ConstantReconnectionPolicy, RoundRobinPolicy, WhiteListRoundRobinPolicy  # noqa: E402

pytestmark = [pytest.mark.cassandra_cluster, pytest.mark.xdist_group("cassandra-three-nodes")]

KEYSPACE = "berth_failure_test"
CAS_PER_PHASE = 30


@pytest.fixture(scope="module")
def trio(make_cluster):
    return make_cluster(nodes=3, address_block=30)


@pytest.fixture(scope="module")
def driver_cluster(trio):
    def profile(policy):
        return driver.ExecutionProfile(
            consistency_level=ConsistencyLevel.QUORUM,
            serial_consistency_level=ConsistencyLevel.SERIAL,
            load_balancing_policy=policy,
            request_timeout=30,
        )

    profiles = {driver.EXEC_PROFILE_DEFAULT: profile(RoundRobinPolicy())}
    for index, address in enumerate(trio.contact_points, start=1):
        profiles[f"node{index}"] = profile(WhiteListRoundRobinPolicy([address]))
    cluster = driver.Cluster(
        trio.contact_points,
        execution_profiles=profiles,
        reconnection_policy=ConstantReconnectionPolicy(1.0),  # back within a second of a restart
    )
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="module")
def session(driver_cluster):
    session = driver_cluster.connect()
    session.execute(
        f"CREATE KEYSPACE {KEYSPACE} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 3}}"
    )
    session.execute(f"CREATE TABLE {KEYSPACE}.providers (id uuid PRIMARY KEY, gen int)")
    return session


class Counter:
    """One row advanced by compare-and-set: gen g -> g + 1 only if still g."""

    def __init__(self, session):
        self.session = session
        self.id = uuid.uuid4()
        self.acknowledged = 0
        self.update = session.prepare(f"UPDATE {KEYSPACE}.providers SET gen = ? WHERE id = ? IF gen = ?")
        insert = f"INSERT INTO {KEYSPACE}.providers (id, gen) VALUES (%s, 0) IF NOT EXISTS"
        assert session.execute(insert, (self.id,)).was_applied

    def advance(self, times: int, profile=driver.EXEC_PROFILE_DEFAULT) -> float:
        """Run `times` CAS that must all apply; return the seconds taken."""
        started = time.monotonic()
        for _ in range(times):
            gen = self.acknowledged
            result = self.session.execute(self.update, (gen + 1, self.id, gen), execution_profile=profile)
            assert result.was_applied, f"CAS from gen {gen} refused: current {result.one()}"
            self.acknowledged = gen + 1
        return time.monotonic() - started

    def stale_cas_is_refused(self) -> bool:
        stale = self.acknowledged - 1
        result = self.session.execute(self.update, (stale + 1, self.id, stale))
        return not result.was_applied and result.one().gen == self.acknowledged

    def serial_read(self, profile=driver.EXEC_PROFILE_DEFAULT) -> int:
        statement = driver.SimpleStatement(
            f"SELECT gen FROM {KEYSPACE}.providers WHERE id = %s", consistency_level=ConsistencyLevel.SERIAL
        )
        return self.session.execute(statement, (self.id,), execution_profile=profile).one().gen


def wait_for_driver(driver_cluster, address: str, up: bool, timeout: float = 120) -> float:
    """Wait until the driver sees the host at address up (or down); return the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        host = next(h for h in driver_cluster.metadata.all_hosts() if h.address == address)
        if host.is_up is up:
            return time.monotonic() - started
        time.sleep(0.2)
    pytest.fail(f"driver never saw {address} {'up' if up else 'down'}")


def timed(action) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def test_lwts_continue_while_one_node_is_killed_and_it_rejoins(trio, driver_cluster, session):
    counter = Counter(session)
    print(f"\n3 nodes up: {CAS_PER_PHASE} CAS in {counter.advance(CAS_PER_PHASE):.2f} s")

    pid = trio.pid(2)
    print(f"kill node2 (pid {pid}): {timed(lambda: trio.kill(2)):.2f} s")
    assert process_is_gone(pid)
    print(f"driver saw node2 down after {wait_for_driver(driver_cluster, trio.address(2), up=False):.2f} s")
    print(f"2 nodes up: {CAS_PER_PHASE} CAS in {counter.advance(CAS_PER_PHASE):.2f} s")
    assert counter.stale_cas_is_refused()
    assert counter.serial_read() == counter.acknowledged
    assert [node["pid"] is not None for node in trio.status()] == [True, False, True]

    print(f"restart node2: {timed(lambda: trio.start_node(2)):.2f} s")
    assert [node["sees_up"] for node in trio.status()] == [3, 3, 3]
    print(f"driver saw node2 up after {wait_for_driver(driver_cluster, trio.address(2), up=True):.2f} s")
    assert counter.serial_read(profile="node2") == counter.acknowledged
    print(f"node2 as coordinator: {CAS_PER_PHASE} CAS in {counter.advance(CAS_PER_PHASE, profile='node2'):.2f} s")
    assert counter.serial_read() == counter.acknowledged


def test_acknowledged_lwts_survive_sigkill_of_every_node(trio, driver_cluster, session):
    counter = Counter(session)
    counter.advance(CAS_PER_PHASE)
    pids = [node["pid"] for node in trio.status()]
    for index in (1, 2, 3):
        trio.kill(index)
    assert all(process_is_gone(pid) for pid in pids)

    print(f"\nrestart all 3 nodes after SIGKILL: {timed(trio.start):.2f} s")
    for address in trio.contact_points:
        wait_for_driver(driver_cluster, address, up=True)
    for index in (1, 2, 3):
        assert counter.serial_read(profile=f"node{index}") == counter.acknowledged
    counter.advance(CAS_PER_PHASE)
    assert counter.serial_read() == counter.acknowledged
