"""Run the API test-suite on Cassandra: ``pytest -p
tests.backends.cassandra.api_on_cassandra tests/api``.

tests/api/conftest.py opens a fresh SQLite store for every test. This
plugin makes it open the session's Cassandra store instead (the cluster of
``BERTH_TEST_CASSANDRA_HOSTS``, or one the session starts), emptied before
each test; creating a keyspace per test would cost seconds each.
"""

from __future__ import annotations

import pytest

from tests.backends.cassandra.store_fixture import cassandra_session_store, cassandra_store  # noqa: F401


class _Borrowed:
    """The session's store, lent to one test: opening and closing are the
    session's business."""

    def __init__(self, store):
        self._store = store

    def __getattr__(self, name):
        return getattr(self._store, name)

    def upgrade(self) -> None:
        """Done once for the session."""

    def close(self) -> None:
        """Closed with the session."""


@pytest.fixture(autouse=True)
def _api_store_on_cassandra(request, monkeypatch):
    module = request.module.__name__
    if not module.startswith("tests.api."):
        return
    store = request.getfixturevalue("cassandra_store")
    import tests.api.conftest as api_conftest

    monkeypatch.setattr(api_conftest, "open_store", lambda url: _Borrowed(store))
