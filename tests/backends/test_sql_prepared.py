"""The SQL store's prepared statements (berth/store/sql/prepared.py) and
SQLite's writer queue and background checkpoints (engine.py), on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime
import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from berth.placement import errors
from berth.store.sql import clock, engine, schema
from berth.store.sql.engine import Database
from berth.store.sql.migrate import upgrade
from berth.store.sql.prepared import Prepared, in_list, in_values

_rc = schema.resource_classes

_INSERT_CLASS = Prepared(lambda: _rc.insert().values(name=sa.bindparam("name"), created_at=sa.bindparam("at")))
_CLASSES_NAMED = Prepared(lambda size: (
    sa.select(_rc.c.name).where(_rc.c.name.in_(in_list("name", size))).order_by(_rc.c.name)
))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'berth.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = Database(url)
    upgrade(opened)
    yield opened
    opened.dispose()


def test_values_written_by_a_prepared_statement_read_back_through_core(database):
    written_at = datetime.datetime(2026, 11, 29, 21, 30, 15)
    with database.writing() as conn:
        _INSERT_CLASS.run(conn, {"name": "CUSTOM_PREPARED", "at": written_at})
    with database.reading() as conn:
        row = conn.execute(sa.select(_rc.c.created_at).where(_rc.c.name == "CUSTOM_PREPARED")).one()
    assert row.created_at == written_at


class _CountedTimestamp(sa.types.TypeDecorator):
    """A timestamp type that counts its conversions."""

    impl = sa.DateTime
    cache_ok = True
    conversions = 0

    def process_bind_param(self, value, dialect):
        type(self).conversions += 1
        return value


_INSERT_CLASSES_AT = Prepared(lambda size: _rc.insert().values([
    {"name": sa.bindparam(f"name_{row}"), "created_at": sa.bindparam("at", type_=_CountedTimestamp())}
    for row in range(size)
]))


def test_a_typed_parameter_is_stored_as_core_stores_it_converted_once_per_run(database, monkeypatch):
    monkeypatch.setattr(_CountedTimestamp, "conversions", 0)
    written_at = datetime.datetime(2026, 11, 30, 16, 45, 7)
    with database.writing() as conn:
        names = in_values("name", ["CUSTOM_A", "CUSTOM_B", "CUSTOM_C"])
        _INSERT_CLASSES_AT.run(conn, {"at": written_at, **names}, shape=3)
        # The name appears once per row; its value is converted once.
        assert _CountedTimestamp.conversions == 1
        conn.execute(_rc.insert().values(name="CUSTOM_CORE", created_at=written_at))
    with database.reading() as conn:
        stored = dict(conn.execute(
            sa.select(_rc.c.name, sa.cast(_rc.c.created_at, sa.Text)).where(_rc.c.name.like("CUSTOM_%"))
        ).all())
    assert stored["CUSTOM_A"] == stored["CUSTOM_B"] == stored["CUSTOM_C"] == stored["CUSTOM_CORE"]


def test_in_lists_of_each_length_find_exactly_their_rows(database):
    names = [f"CUSTOM_SHAPE_{n}" for n in range(5)]
    with database.writing() as conn:
        for name in names:
            _INSERT_CLASS.run(conn, {"name": name, "at": datetime.datetime(2026, 1, 1)})
    with database.reading() as conn:
        for size in (1, 2, 5):
            wanted = names[:size]
            found = _CLASSES_NAMED.rows(conn, in_values("name", wanted), shape=size)
            assert [name for name, in found] == wanted


def test_a_unique_key_taken_is_a_concurrent_update_and_rolls_back(database):
    with pytest.raises(errors.ConcurrentUpdate):
        with database.writing() as conn:
            _INSERT_CLASS.run(conn, {"name": "CUSTOM_ONCE", "at": datetime.datetime(2026, 1, 1)})
            _INSERT_CLASS.run(conn, {"name": "CUSTOM_ONCE", "at": datetime.datetime(2026, 1, 1)})
    with database.reading() as conn:
        assert _CLASSES_NAMED.rows(conn, in_values("name", ["CUSTOM_ONCE"]), shape=1) == []


def test_sqlite_writers_take_turns_on_a_lock_file_beside_the_database(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'berth.db'}")
    upgrade(database)
    inside: list[int] = []
    overlaps: list[int] = []

    def write(number: int) -> None:
        for _ in range(5):
            with database.writing() as conn:
                inside.append(number)
                if len(inside) > 1:
                    overlaps.append(number)
                _INSERT_CLASS.run(conn, {"name": f"CUSTOM_T{number}_{time.monotonic_ns()}",
                                         "at": datetime.datetime(2026, 1, 1)})
                time.sleep(0.002)
                inside.remove(number)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    database.dispose()
    assert overlaps == []
    assert Path(f"{tmp_path / 'berth.db'}-writers.lock").exists()
    reopened = Database(f"sqlite:///{tmp_path / 'berth.db'}")
    with reopened.reading() as conn:
        count = conn.execute(sa.select(sa.func.count()).where(_rc.c.name.like("CUSTOM_T%"))).scalar()
    reopened.dispose()
    assert count == 20


def test_a_forked_child_takes_its_own_turns(tmp_path):
    """A process forked after the store was used opens the lock file again
    (a descriptor inherited through fork would share the parent's flock)
    and waits for the parent's write to end."""
    database = Database(f"sqlite:///{tmp_path / 'berth.db'}")
    upgrade(database)
    with database.writing():  # the parent's queue has its descriptor open
        pass
    marks = tmp_path / "marks"
    parent_holds, go = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.read(parent_holds, 1)
            with database.writing():
                with open(marks, "a") as out:
                    out.write(f"child, own descriptor: {database.writers._opened_by == os.getpid()}\n")
        except BaseException as exc:
            with open(marks, "a") as out:
                out.write(f"child failed: {exc!r}\n")
        finally:
            os._exit(0)
    with database.writing():
        os.write(go, b"x")
        time.sleep(0.5)
        with open(marks, "a") as out:
            out.write("parent done\n")
    os.waitpid(child, 0)
    database.dispose()
    assert marks.read_text().splitlines() == ["parent done", "child, own descriptor: True"]


def _turn_after_another_process(tmp_path: Path, monkeypatch, spin_s: float, held_s: float) -> tuple[list[str], list[int]]:
    """Another process holds the writers' turn for ``held_s``; this one
    asks for it with ``spin_s``. The order of the two events, and the flags
    of every ``flock`` call this process made."""
    path = str(tmp_path / "berth.db")
    marks = tmp_path / "marks"
    holding, told = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            queue = engine.WriterQueue(path)
            with queue.turn():
                os.write(told, b"x")
                time.sleep(held_s)
                with open(marks, "a") as out:
                    out.write("the other process releases\n")
        finally:
            os._exit(0)
    os.read(holding, 1)
    calls: list[int] = []
    flock = fcntl.flock

    def recorded(fd, operation):
        calls.append(operation)
        return flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", recorded)
    queue = engine.WriterQueue(path, spin_s=spin_s)
    with queue.turn():
        with open(marks, "a") as out:
            out.write("this process has the turn\n")
    monkeypatch.undo()
    os.waitpid(child, 0)
    queue.close()
    return marks.read_text().splitlines(), calls


def test_a_turn_released_within_the_spin_is_taken_without_sleeping(tmp_path, monkeypatch):
    order, calls = _turn_after_another_process(tmp_path, monkeypatch, spin_s=60.0, held_s=0.05)
    assert order == ["the other process releases", "this process has the turn"]
    taking = [c for c in calls if c & fcntl.LOCK_EX]
    assert len(taking) > 1  # refused while the other held it, then taken
    assert all(c & fcntl.LOCK_NB for c in taking)


def test_a_turn_held_past_the_spin_is_waited_for_in_the_kernel(tmp_path, monkeypatch):
    order, calls = _turn_after_another_process(tmp_path, monkeypatch, spin_s=0.001, held_s=0.3)
    assert order == ["the other process releases", "this process has the turn"]
    taking = [c for c in calls if c & fcntl.LOCK_EX]
    assert taking[-1] == fcntl.LOCK_EX  # the last attempt blocks
    assert all(c & fcntl.LOCK_NB for c in taking[:-1])


def _classes_in_file_alone(database_file: Path, copy: Path) -> set[str]:
    """The custom classes a copy of the database file holds without its
    write-ahead log: what checkpoints have copied into the file."""
    copy.write_bytes(database_file.read_bytes())
    opened = Database(f"sqlite:///{copy}")
    try:
        with opened.reading() as conn:
            return set(conn.execute(sa.select(_rc.c.name).where(_rc.c.name.like("CUSTOM_CK%"))).scalars())
    except sa.exc.OperationalError:
        return set()  # not even the schema copied yet
    finally:
        opened.dispose()


def test_commits_reach_the_database_file_in_the_background(tmp_path):
    """No commit waits for a checkpoint (berth's connections turn SQLite's
    automatic ones off), yet what is committed reaches the database file,
    not only the log, within moments: the checkpointer thread copies it."""
    path = tmp_path / "berth.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    with database.reading() as conn:
        assert conn.execute(sa.text("PRAGMA wal_autocheckpoint")).scalar() == 0
    names = {f"CUSTOM_CK{n}" for n in range(20)}
    for name in sorted(names):
        with database.writing() as conn:
            _INSERT_CLASS.run(conn, {"name": name, "at": datetime.datetime(2026, 1, 1)})
    deadline = time.monotonic() + 30
    while (found := _classes_in_file_alone(path, tmp_path / "copy.db")) != names and time.monotonic() < deadline:
        time.sleep(0.2)
    database.dispose()
    assert found == names


def _log_frames(path: Path) -> int:
    """Frames in the write-ahead log (a PASSIVE checkpoint's count)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        return connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    finally:
        connection.close()


@pytest.mark.parametrize("bounded", [True, False])
def test_a_log_past_its_bound_is_started_over_once_copied(tmp_path, monkeypatch, bounded):
    """Under constant load SQLite never starts its log over: some reader is
    in it whenever a checkpoint runs, so none copies it all before the next
    commit appends to it. The checkpointer has a log past WAL_RESTART_BYTES
    started over, taking the writers' turn and waiting for the readers in
    it to leave. Without the writers' queue to take (bounded False) a round
    only copies, as SQLite does, and the log goes on growing."""
    monkeypatch.setattr(engine, "WAL_RESTART_BYTES", 64 * 1024)
    monkeypatch.setattr(engine, "WAL_RESTART_WAIT_MS", 10_000)
    monkeypatch.setattr(engine, "CHECKPOINT_INTERVAL_S", 3600)  # rounds run when the test says
    path = tmp_path / "berth.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    if not bounded:
        database.checkpointer.writers = None
    # A reader in the log when the round starts, gone a moment later.
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM resource_classes").fetchall()
    names = [f"CUSTOM_LOG_{n}" for n in range(300)]
    for name in names:
        with database.writing() as conn:
            _INSERT_CLASS.run(conn, {"name": name, "at": datetime.datetime(2026, 1, 1)})
    grown = _log_frames(path)
    assert grown * 4096 > 64 * 1024
    leaves = threading.Timer(1.0, reader.rollback)
    leaves.start()
    database.checkpointer._checkpoint()
    leaves.join()
    reader.close()
    with database.writing() as conn:
        _INSERT_CLASS.run(conn, {"name": "CUSTOM_LOG_AFTER", "at": datetime.datetime(2026, 1, 1)})
    after = _log_frames(path)
    assert (after < 16) if bounded else (after > grown)
    everything = [*names, "CUSTOM_LOG_AFTER"]
    with database.reading() as conn:
        assert len(_CLASSES_NAMED.rows(conn, in_values("name", everything), shape=len(everything))) == 301
    database.dispose()


def test_the_sql_feed_reads_only_usages_after_claims(tmp_path):
    """A provider that only claims changed since the cursor comes back as a
    UsageChange (one read of the store, not the five of a snapshot); one
    whose traits or inventories changed as well comes back whole."""
    from berth.store import open_store
    from tests.support.builders import claim, inventory, new_uuid, provider

    store = open_store(f"sqlite:///{tmp_path / 'berth.db'}")
    store.upgrade()
    try:
        claimed_only, reshaped = provider(store, "claimed"), provider(store, "reshaped")
        for host in (claimed_only, reshaped):
            inventory(store, host, VCPU=8)
        cursor = store.read_provider_changes(None).cursor
        for host in (claimed_only, reshaped):
            store.write_allocations([claim(new_uuid(), {host.uuid: {"VCPU": 3}})])
        current = store.get_provider(reshaped.uuid)
        store.set_provider_traits(reshaped.uuid, current.generation, ["HW_CPU_X86_AVX2"])
        changes = store.read_provider_changes(cursor)
        assert [(c.uuid, dict(c.usages)) for c in changes.usages] == [(claimed_only.uuid, {"VCPU": 3})]
        assert [(p.uuid, dict(p.usages), p.traits) for p in changes.providers] == [
            (reshaped.uuid, {"VCPU": 3}, frozenset({"HW_CPU_X86_AVX2"})),
        ]
    finally:
        store.close()


def _alembic(connection) -> tuple:
    """Alembic's command module and a configuration that migrates on
    ``connection`` (to stop at a revision, then write rows as it left them)."""
    from alembic import command
    from alembic.config import Config

    from berth.store.sql.migrate import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return command, config


def test_migration_0006_starts_every_shape_at_the_providers_last_change(tmp_path):
    """A reader whose cursor is older than a provider's last change before
    the upgrade must still read that provider whole."""
    database = Database(f"sqlite:///{tmp_path / 'berth.db'}")
    try:
        with database.writing() as connection:
            command, config = _alembic(connection)
            command.upgrade(config, "0005")
            connection.execute(sa.text(
                "INSERT INTO resource_providers (id, uuid, name, generation, root_provider_id, change_seq, created_at)"
                " VALUES (1, 'a1b2c3d4-0000-4000-8000-000000000001', 'cn1', 0, 1, 7, '2026-11-30 00:00:00')"
            ))
            command.upgrade(config, "head")
            shape_seq, = connection.execute(sa.text("SELECT shape_seq FROM resource_providers")).one()
        assert shape_seq == 7
    finally:
        database.dispose()


def test_the_sql_feed_reads_tombstones_only_when_a_provider_was_deleted_since_the_cursor(tmp_path):
    """A reader whose cursor is not behind the last deletion skips the
    tombstones (one query fewer per read), and one that is behind it reads
    them."""
    from berth.store import open_store
    from tests.support.builders import claim, inventory, new_uuid, provider

    store = open_store(f"sqlite:///{tmp_path / 'berth.db'}")
    store.upgrade()
    statements: list[str] = []
    try:
        host, doomed = provider(store, "host"), provider(store, "doomed")
        inventory(store, host, VCPU=8)
        with store.database.reading() as conn:  # this thread's kept connection
            conn.connection.driver_connection.set_trace_callback(statements.append)
        cursor = store.read_provider_changes(None).cursor
        store.write_allocations([claim(new_uuid(), {host.uuid: {"VCPU": 1}})])
        statements.clear()
        changes = store.read_provider_changes(cursor)
        assert [c.uuid for c in changes.usages] == [host.uuid] and changes.removed == ()
        assert not [s for s in statements if "removed_providers" in s]
        cursor = changes.cursor
        store.delete_provider(doomed.uuid)
        statements.clear()
        changes = store.read_provider_changes(cursor)
        assert changes.removed == (doomed.uuid,)
        assert [s for s in statements if "removed_providers" in s]
        statements.clear()
        assert store.read_provider_changes(cursor).removed == (doomed.uuid,)  # read again from the same cursor
        assert store.read_provider_changes(changes.cursor).removed == ()
    finally:
        store.close()


def test_migration_0007_keeps_tombstones_written_before_it_readable(tmp_path):
    """A reader whose cursor is older than a deletion made before the
    upgrade must still be told of it."""
    from berth.store.sql import changes

    database = Database(f"sqlite:///{tmp_path / 'berth.db'}")
    try:
        with database.writing() as connection:
            command, config = _alembic(connection)
            command.upgrade(config, "0006")
            store_id, = connection.execute(sa.text("SELECT store_id FROM change_counter")).one()
            connection.execute(sa.text("UPDATE change_counter SET seq = 9"))
            connection.execute(sa.text(
                "INSERT INTO removed_providers (uuid, change_seq) VALUES ('a1b2c3d4-0000-4000-8000-000000000001', 8)"
            ))
            command.upgrade(config, "head")
            removed_seq, = connection.execute(sa.text("SELECT removed_seq FROM change_counter")).one()
            read = changes.read_changes(connection, f"{store_id}:7:0")
        assert removed_seq == 8
        assert read.removed == ("a1b2c3d4-0000-4000-8000-000000000001",)
    finally:
        database.dispose()


def test_the_feed_and_the_claim_find_their_rows_by_index_on_sqlite(tmp_path):
    """Neither the read of changed providers nor the claim's lock may scan
    every provider: SQLite's planner, left to itself, scans them in id
    order to save sorting groups (a read per placement at 10,000 hosts went
    from a few µs to milliseconds). Both sum allocations from the index
    alone (revision 0008), not from one table row per allocation, and the
    feed's reads sort nothing (a temporary B-tree nearly doubled them)."""
    from berth.store.sql import allocations, changes

    database = Database(f"sqlite:///{tmp_path / 'berth.db'}")
    upgrade(database)
    try:
        with database.reading() as conn:
            driver = conn.connection.driver_connection
            feed = [changes._CHANGED_WITH_USAGES, changes._COUNTER_AND_CHANGED_USAGES]
            for statement, shape, params in [
                (changes._CHANGED_WITH_USAGES, None, {"after": 5}),
                (changes._COUNTER_AND_CHANGED_USAGES, None, {"after": 5}),
                (allocations._LOCK_PROVIDERS_WITH_CAPACITIES, (2, 1), {"uuid_0": "a", "uuid_1": "b", "consumer_0": 1}),
            ]:
                compiled = statement._for(conn.dialect, shape)
                plan = [row[3] for row in driver.execute(
                    "EXPLAIN QUERY PLAN " + compiled.sql, compiled.parameters(params)
                )]
                assert plan and not [step for step in plan if step.startswith("SCAN")], plan
                allocation_steps = [step for step in plan if "allocations" in step]
                assert allocation_steps and all(
                    "COVERING INDEX ix_allocations_usage" in step for step in allocation_steps
                ), plan
                if statement in feed:
                    assert not [step for step in plan if "TEMP B-TREE" in step], plan
    finally:
        database.dispose()


def test_timestamps_are_the_current_second_in_naive_utc(monkeypatch):
    now = [1_790_000_000.75]
    monkeypatch.setattr(clock.time, "time", lambda: now[0])
    first = clock.utcnow()
    assert first == datetime.datetime(2026, 9, 21, 14, 13, 20) and first.tzinfo is None
    now[0] += 0.2  # the same second: the same value
    assert clock.utcnow() == first
    now[0] += 3600
    assert clock.utcnow() == datetime.datetime(2026, 9, 21, 15, 13, 20)
