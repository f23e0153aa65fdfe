"""Stores for the candidate tests: copies of one migrated SQLite file.

Migrating a new database costs seconds; copying a migrated one costs
milliseconds, and every test here needs an empty store of its own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from berth.store import open_store


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("candidates-template") / "berth.db"
    store = open_store(f"sqlite:///{path}")
    store.upgrade()
    store.close()
    return path


def copy_store(template_db: Path, directory: Path):
    """An empty, migrated store in ``directory``."""
    shutil.copy(template_db, directory / "berth.db")
    return open_store(f"sqlite:///{directory / 'berth.db'}")


@pytest.fixture
def store(template_db, tmp_path):
    store = copy_store(template_db, tmp_path)
    yield store
    store.close()
