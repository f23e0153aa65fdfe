"""Fixtures shared by every test package."""

from __future__ import annotations

import os

import pytest

from tests.support.postgres import PrivatePostgres, create_database


@pytest.fixture(scope="session")
def postgres_admin_url():
    """A PostgreSQL server for the session: BERTH_TEST_POSTGRESQL_URL, or a
    private one started here and stopped by PID at the end."""
    given = os.environ.get("BERTH_TEST_POSTGRESQL_URL")
    if given:
        yield given
        return
    server = PrivatePostgres()
    server.start()
    try:
        yield server.admin_url
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_admin_url):
    """An empty database of its own for one test."""
    return create_database(postgres_admin_url)
