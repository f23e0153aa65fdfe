"""Real Cassandra clusters started with deploy/cassandra/cluster.

Each test module asks `make_cluster` for the cluster it needs; the cluster
lives in a pytest temporary directory, on addresses of its own (so a
developer's cluster on 127.0.0.x can keep running), and is stopped by PID at
the end of the module, which then checks that no node process is left.

Tests marked `cassandra_cluster` (three nodes, SIGKILL and restarts) only run
when selected with `-m cassandra_cluster` (`make test-cluster`); otherwise
they are deselected, not skipped. Without Java or Maven the Cassandra tests
fail: a missing tool is a broken setup, not a reason to pass.
"""

from __future__ import annotations

import pytest

from tests.backends.cassandra.cluster_script import ScriptCluster, require_tools, stop_and_check


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "cassandra_cluster: needs a 3-node Cassandra cluster; run with -m cassandra_cluster"
    )


def pytest_collection_modifyitems(config, items):
    if "cassandra_cluster" in (config.option.markexpr or ""):
        return
    deselected = [item for item in items if item.get_closest_marker("cassandra_cluster")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("cassandra_cluster")]


@pytest.fixture(scope="module")
def make_cluster(tmp_path_factory, worker_number):
    """Start a cluster of 1 or 3 nodes; stop it by PID when the module ends."""
    require_tools()
    clusters: list[ScriptCluster] = []

    def make(nodes: int, address_block: int) -> ScriptCluster:
        # 127.0.<block + worker>.i: one block per test module and xdist worker.
        base = f"127.0.{address_block + worker_number}"
        cluster = ScriptCluster(tmp_path_factory.mktemp(f"cassandra-{nodes}n"), base, nodes)
        clusters.append(cluster)
        cluster.start()
        return cluster

    yield make
    for cluster in clusters:
        stop_and_check(cluster)


@pytest.fixture(scope="module")
def worker_number(request) -> int:
    """0 without xdist, n for xdist worker gw<n>."""
    worker = getattr(request.config, "workerinput", {}).get("workerid", "gw0")
    return int(worker.removeprefix("gw"))
