"""Every test in this package runs once per store backend.

Cassandra runs on a one-node cluster shared by the session (see
tests/backends/cassandra/store_fixture.py); when it cannot start, the
cassandra tests fail rather than skip.
"""

from __future__ import annotations

import pytest

from berth.store import open_store
from tests.backends.cassandra.store_fixture import cassandra_session_store, cassandra_store  # noqa: F401

BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("cassandra", marks=pytest.mark.cassandra),
]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def store(request, backend, tmp_path):
    if backend == "cassandra":
        # Session-wide and emptied for each test; closed with the session.
        yield request.getfixturevalue("cassandra_store")
        return
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'berth.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = open_store(url)
    opened.upgrade()
    yield opened
    opened.close()
