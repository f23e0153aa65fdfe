# berth: the everyday commands. See README.md.
.PHONY: serve test compat test-cluster test-oracle install bench

# Install berth into .venv and serve the API on 127.0.0.1:8778 with SQLite
# under ./data.
serve:
	scripts/install-python
	.venv/bin/berth serve --host 127.0.0.1 --port 8778

# Install what the tests need (Debian packages, Python packages) and run them.
test:
	scripts/run-tests

install:
	scripts/install-python test

# Run upstream Placement 16.0.0's gabbi suite (downloaded from PyPI, cached in
# .cache/compat) against live berth servers; see docs/compatibility.md.
# Extra arguments: make compat COMPAT_ARGS="cors.yaml --list-failures"
compat:
	scripts/install-python test
	.venv/bin/python -m tests.compat.run $(COMPAT_ARGS)

# Cassandra on 3 nodes with replication factor 3 (several minutes; not part
# of `make test`): first the node-kill tests (LWTs, and claims through a berth
# server, while a node is SIGKILLed and restarted), then the store suite on a
# 3-node cluster the session starts and stops. One cluster at a time.
test-cluster:
	scripts/install-system-packages
	scripts/install-python test
	.venv/bin/pytest -m cassandra_cluster tests/backends/cassandra
	env -u BERTH_TEST_CASSANDRA_HOSTS BERTH_TEST_CASSANDRA_NODES=3 .venv/bin/pytest -m cassandra tests/backends \
		--ignore=tests/backends/cassandra/test_cluster_script.py

# berth beside OpenStack Placement 16.0.0 (installed from PyPI into its own
# virtualenv under .cache/peer), at 1,000 and 10,000 compute nodes, then
# berth alone at 100,000; figures go to docs/benchmarks.md. About an hour.
bench:
	scripts/install-system-packages
	scripts/install-python test
	.venv/bin/python bench/compare.py --providers 1000 --providers 10000
	.venv/bin/python bench/candidates.py --providers 100000

# The allocation-candidates reference against upstream Placement 16.0.0
# itself (installed from PyPI into .cache/peer; not part of `make test`).
test-oracle:
	scripts/install-python test
	.venv/bin/pytest -m upstream_oracle tests/unit/candidates
