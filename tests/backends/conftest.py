"""Every test in this package runs once per store backend."""

from __future__ import annotations

import pytest

from berth.store import open_store

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'berth.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(database_url):
    store = open_store(database_url)
    store.upgrade()
    yield store
    store.close()
