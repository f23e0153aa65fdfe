"""Each thread keeps its connection to a SQLite file between transactions."""

from __future__ import annotations

import datetime
import gc
import os
import sqlite3
import threading

import pytest
import sqlalchemy as sa

from berth.placement import errors
from berth.store.sql import schema
from berth.store.sql.engine import Database
from berth.store.sql.migrate import upgrade

_rc = schema.resource_classes


@pytest.fixture
def database(tmp_path):
    opened = Database(f"sqlite:///{tmp_path / 'berth.db'}")
    upgrade(opened)
    yield opened
    opened.dispose()


def _driver(connection) -> object:
    return connection.connection.driver_connection


def _add_class(conn, name: str) -> None:
    conn.execute(_rc.insert().values(name=name, created_at=datetime.datetime(2026, 1, 1)))


def _class_names(conn) -> set[str]:
    return set(conn.execute(sa.select(_rc.c.name).where(_rc.c.name.like("CUSTOM_%"))).scalars())


def _in_thread(function) -> object:
    result = []
    thread = threading.Thread(target=lambda: result.append(function()))
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    return result[0]


def test_a_thread_keeps_its_connection_and_another_thread_has_its_own(database):
    with database.reading() as conn:
        first = _driver(conn)
    with database.writing() as conn:
        _add_class(conn, "CUSTOM_KEPT")
        assert _driver(conn) is first
    with database.reading() as conn:
        assert _driver(conn) is first
        assert _class_names(conn) == {"CUSTOM_KEPT"}

    def other_thread():
        with database.reading() as conn:
            return _driver(conn), _class_names(conn)

    driver, names = _in_thread(other_thread)
    assert driver is not first and names == {"CUSTOM_KEPT"}


def test_a_transaction_begun_inside_another_takes_a_connection_of_its_own(database):
    with database.writing() as outer:
        _add_class(outer, "CUSTOM_UNCOMMITTED")
        with database.reading() as inner:
            assert _driver(inner) is not _driver(outer)
            assert _class_names(inner) == set()  # the outer write is not committed yet
    with database.reading() as conn:
        assert _class_names(conn) == {"CUSTOM_UNCOMMITTED"}


def test_a_failed_transaction_leaves_the_kept_connection_usable(database):
    with pytest.raises(RuntimeError):
        with database.writing() as conn:
            _add_class(conn, "CUSTOM_ROLLED_BACK")
            raise RuntimeError("the caller gives up")
    with database.writing() as conn:
        _add_class(conn, "CUSTOM_AFTER")
    with database.reading() as conn:
        assert _class_names(conn) == {"CUSTOM_AFTER"}


def test_a_thread_that_ends_gives_its_connection_back(database):
    before = database.engine.pool.checkedout()

    def use():
        with database.reading() as conn:
            conn.execute(sa.text("SELECT 1"))
        return database.engine.pool.checkedout()

    assert _in_thread(use) == before + 1
    gc.collect()
    assert database.engine.pool.checkedout() == before


def test_more_threads_than_the_pool_holds_each_keep_one(database):
    """SQLAlchemy's pool bounds connections out at once (15 by default);
    kept connections must not make the sixteenth thread wait for one."""
    count = 24
    all_in = threading.Barrier(count, timeout=30)
    failures = []

    def hold():
        try:
            with database.reading() as conn:
                conn.execute(sa.text("SELECT 1"))
            all_in.wait()  # every thread keeps its connection at once
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=hold) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []


def test_dispose_closes_the_kept_connections(database):
    with database.reading() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert database.engine.pool.checkedout() >= 1
    database.dispose()
    assert database.engine.pool.checkedout() == 0


def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_open(database, tmp_path):
    with database.reading() as conn:
        parents = id(_driver(conn))
    report = tmp_path / "child"
    child = os.fork()
    if child == 0:
        try:
            with database.writing() as conn:
                _add_class(conn, "CUSTOM_FROM_CHILD")
                own = id(_driver(conn)) != parents
            report.write_text(f"own connection: {own}")
        except BaseException as exc:
            report.write_text(f"failed: {exc!r}")
        finally:
            os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report.read_text() == "own connection: True"
    with database.writing() as conn:
        _add_class(conn, "CUSTOM_FROM_PARENT")
    with database.reading() as conn:
        assert id(_driver(conn)) == parents
        assert _class_names(conn) == {"CUSTOM_FROM_CHILD", "CUSTOM_FROM_PARENT"}


def _add_class_on_driver(conn, name: str) -> None:
    _driver(conn).execute(
        "INSERT INTO resource_classes (name, created_at) VALUES (?, ?)", (name, "2026-01-01 00:00:00.000000"),
    )


@pytest.mark.parametrize("through", ["driver", "sqlalchemy", "both"])
def test_transactions_begin_and_end_on_the_driver_whichever_way_statements_run(database, through):
    """Hot paths run their statements on the driver (prepared.py), others
    through SQLAlchemy, which then starts a transaction of its own: each
    way commits, rolls back on failure, and leaves neither SQLAlchemy nor
    the driver in a transaction."""

    def add(conn, name):
        if through in ("driver", "both"):
            _add_class_on_driver(conn, f"{name}_D")
        if through in ("sqlalchemy", "both"):
            _add_class(conn, f"{name}_S")

    expected = {
        "driver": {"CUSTOM_KEPT_D"}, "sqlalchemy": {"CUSTOM_KEPT_S"}, "both": {"CUSTOM_KEPT_D", "CUSTOM_KEPT_S"},
    }[through]
    with pytest.raises(RuntimeError):
        with database.writing() as conn:
            add(conn, "CUSTOM_GONE")
            assert _driver(conn).in_transaction
            raise RuntimeError("the caller gives up")
    assert not conn.in_transaction() and not _driver(conn).in_transaction
    with database.writing() as conn:
        add(conn, "CUSTOM_KEPT")
    assert not conn.in_transaction() and not _driver(conn).in_transaction
    with database.reading() as conn:
        assert _class_names(conn) == expected
    assert not conn.in_transaction() and not _driver(conn).in_transaction


def test_a_write_transaction_holds_the_write_lock_from_its_start(database):
    """BEGIN IMMEDIATE: another connection cannot write while a write
    transaction is open, even before its first statement."""
    other = sqlite3.connect(database.engine.url.database, timeout=0, isolation_level=None)
    try:
        with database.writing():
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


@pytest.mark.parametrize("through", ["driver", "sqlalchemy"])
def test_a_refused_commit_rolls_back_and_leaves_the_kept_connection_usable(database, through):
    """SQLite keeps a transaction open when it refuses its COMMIT (here a
    deferred foreign key): the write is rolled back, nothing of it stays,
    and the thread's next transaction begins. (A refused constraint reaches
    the caller as a concurrent update, as every integrity error does.)"""
    with pytest.raises(errors.ConcurrentUpdate):
        with database.writing() as conn:
            if through == "sqlalchemy":
                _add_class(conn, "CUSTOM_GONE")
            else:
                _add_class_on_driver(conn, "CUSTOM_GONE")
            driver = _driver(conn)
            driver.execute("PRAGMA defer_foreign_keys = ON")
            driver.execute("INSERT INTO provider_traits (resource_provider_id, trait_id) VALUES (987654, 987654)")
    assert not conn.in_transaction() and not _driver(conn).in_transaction
    with database.writing() as conn:
        _add_class(conn, "CUSTOM_AFTER")
    with database.reading() as conn:
        assert _class_names(conn) == {"CUSTOM_AFTER"}


@pytest.mark.parametrize("through", ["driver", "sqlalchemy"])
def test_a_single_statement_read_runs_outside_a_transaction_and_leaves_none_open(database, through):
    with database.writing() as conn:
        _add_class(conn, "CUSTOM_SEEN")
    with database.statement() as conn:
        if through == "driver":
            names = {name for name, in _driver(conn).execute(
                "SELECT name FROM resource_classes WHERE name LIKE 'CUSTOM_%'"
            )}
            # Autocommit: no snapshot is held beyond the statement.
            assert not _driver(conn).in_transaction
        else:
            names = _class_names(conn)
    assert names == {"CUSTOM_SEEN"}
    assert not conn.in_transaction() and not _driver(conn).in_transaction
    with database.writing() as conn:  # the kept connection is free and usable
        _add_class(conn, "CUSTOM_AFTER")
    with database.statement() as conn:
        assert _class_names(conn) == {"CUSTOM_SEEN", "CUSTOM_AFTER"}
