"""Engines and transactions for SQLite and PostgreSQL.

Two kinds of transaction: ``reading`` sees one snapshot; ``writing`` holds
the write lock on SQLite (``BEGIN IMMEDIATE``) and row locks on PostgreSQL
(``SELECT ... FOR UPDATE`` issued by the callers). Driver errors are turned
into berth's errors here, on the way out.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from berth.placement import errors
from berth.store.sql import changes

# How long a SQLite writer waits for another process's write lock.
SQLITE_BUSY_TIMEOUT_S = 60
# How often the background checkpointer copies the write-ahead log into the
# database file, while there are commits to copy.
CHECKPOINT_INTERVAL_S = 0.5
# A log that holds more than this is started over (Checkpointer) once it
# is copied, so it stays about this size however long the load lasts.
WAL_RESTART_BYTES = 128 * 1024 * 1024
# How long a writer tries for its turn without sleeping before it waits in
# the kernel (WriterQueue): a turn is held about half a millisecond.
WRITER_SPIN_S = 0.001
# How long starting it over waits for readers still in it before it tries
# again a round later (the writers wait meanwhile).
WAL_RESTART_WAIT_MS = 50

LOG = logging.getLogger(__name__)


class _Process:
    """This process's id, read once and again after a fork: the fork checks
    below run several times per transaction, and os.getpid() is a system
    call each time."""

    pid = os.getpid()

    @classmethod
    def forked(cls) -> None:
        cls.pid = os.getpid()


os.register_at_fork(after_in_child=_Process.forked)


def make_engine(url: str) -> Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_size=10, max_overflow=20, pool_pre_ping=True)
    raise ValueError(f"unsupported SQL database: {url}")


def _sqlite_engine(url: sa.engine.URL) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    if not in_memory:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        # One shared connection is the only way threads see one in-memory DB.
        poolclass=StaticPool if in_memory else None,
        # A file's connections are kept by their threads (KeptConnections):
        # no bound on how many are out at once, which would make the
        # thread after the bound wait for another one to end.
        **({} if in_memory else {"max_overflow": -1}),
    )
    _take_over_sqlite_transactions(engine, checkpoints_in_background=not in_memory)
    return engine


def _take_over_sqlite_transactions(engine: Engine, checkpoints_in_background: bool) -> None:
    """Let berth issue BEGIN itself.

    Works around pysqlite's own transaction handling, which defers BEGIN to
    the first write and so turns a read-then-write transaction into a lock
    upgrade that fails with "database is locked" under concurrency instead of
    waiting (the failure Placement shows on SQLite with several workers).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode loses nothing on a process crash; only a power
        # loss can drop the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if checkpoints_in_background:
            # Checkpoints run in the background (Checkpointer), not in the
            # commit that happens to cross SQLite's 1,000-page mark: that
            # commit waited for the copy and its fsync, 20 ms and more, and
            # made the p99 of claims.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        driver = connection.connection.driver_connection
        if driver.in_transaction:
            # Begun on the driver already (_driver_transaction); SQLAlchemy
            # is only catching up with it on its first statement.
            return
        mode = "IMMEDIATE" if connection.info.get("berth_writing") else "DEFERRED"
        # Straight to the driver: SQLAlchemy has no transaction to track
        # here (pysqlite's own handling is off), and its execution path
        # would cost more than the BEGIN itself.
        driver.execute(f"BEGIN {mode}")


class WriterQueue:
    """Writers to one SQLite file take turns here before ``BEGIN IMMEDIATE``.

    Works around SQLite's busy handler: a writer that finds the database
    locked sleeps in growing steps (1 ms, 2 ms, 5 ms, ... up to 100 ms) and
    is not woken when the lock is released, so with several writer
    processes the sleeps, not the writes, set the latency (p99 in the
    hundreds of milliseconds with four schedulers). Here a writer waits on
    a thread lock (other threads of its process) and then on ``flock`` of
    a lock file beside the database (other processes); the kernel wakes
    the next one the moment the holder releases it, or dies.
    ``BEGIN IMMEDIATE`` then finds the database free, and the busy
    timeout stays for writers that are not berth (sqlite3, backups).

    A writer first tries for the lock without sleeping, for up to
    ``spin_s``, giving up its core between tries (``sched_yield``: to the
    holder, if that is waiting for a core). Works around what a sleep
    costs on a virtual machine: a core that goes idle is lent to other
    guests and comes back with cold caches. Measured on the two-core
    machine of docs/benchmarks.md, a 0.2 ms sleep before each scheduling
    request made the request itself take 0.13 ms more CPU (a 1 ms sleep,
    0.5 ms more), against waits for the turn of a few tenths of a
    millisecond. A longer wait (more writers than cores) sleeps in the
    kernel as before.
    """

    def __init__(self, database_path: str, spin_s: float = WRITER_SPIN_S) -> None:
        self.path = database_path + "-writers.lock"
        self.spin_s = spin_s
        self._threads = threading.Lock()
        self._file: int | None = None
        self._opened_by: int | None = None

    def acquire(self) -> None:
        """Wait for this writer's turn; ``release`` ends it."""
        if self._opened_by is not None and self._opened_by != _Process.pid:
            # A forked child starts over: the thread lock it inherited may be
            # held by a thread of the parent that does not exist here, and a
            # descriptor inherited through fork shares its flock with the
            # parent's, so the two would not exclude each other.
            self._threads = threading.Lock()
            self._file = None
        self._threads.acquire()
        try:
            if self._file is None:
                self._file = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._opened_by = _Process.pid
            if not self._lock_without_sleeping():
                fcntl.flock(self._file, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def _lock_without_sleeping(self) -> bool:
        """True once the file lock is taken within ``spin_s``."""
        deadline = None
        while True:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.spin_s
            elif now >= deadline:
                return False
            os.sched_yield()

    def release(self) -> None:
        try:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def close(self) -> None:
        with self._threads:
            if self._file is not None and self._opened_by == _Process.pid:
                os.close(self._file)
            self._file = None


class Checkpointer:
    """Copies a SQLite file's write-ahead log into the database from a
    thread of its own, every CHECKPOINT_INTERVAL_S while commits come in.

    PASSIVE checkpoints wait for no one: writers go on appending to the log
    and readers keep their snapshots; what a reader still needs is copied
    next time. The thread starts with the first commit of its process (a
    forked child starts its own) and stops with ``close``.

    Works around the log growing without end under sustained load: SQLite
    starts it over only when a writer begins while every frame is copied
    and no reader is in it, which never happens while commits keep coming
    (two schedulers at full speed append about 40 MB a second). Once the
    log holds more than WAL_RESTART_BYTES, a round takes the writers' turn
    (``writers``) and has it started over with a RESTART checkpoint:
    writers wait on the turn for the 15 to 25 ms it takes (once every few
    seconds at full load), readers still in the log are waited for at most
    WAL_RESTART_WAIT_MS (longer, and the next round tries again). The
    file keeps its size and is written again from its start; emptying it
    as well (TRUNCATE) held the writers for about 190 ms.
    """

    def __init__(self, database_path: str, writers: WriterQueue | None = None) -> None:
        self.path = database_path
        self.writers = writers
        self._commits = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_by: int | None = None
        self._lock = threading.Lock()

    def committed(self) -> None:
        if self._started_by != _Process.pid:
            self._start()
        if not self._commits.is_set():  # set() takes a lock even when set
            self._commits.set()

    def _start(self) -> None:
        with self._lock:
            if self._started_by == _Process.pid:
                return
            self._commits = threading.Event()
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._commits, self._stop), name="berth-sqlite-checkpoint", daemon=True,
            )
            self._started_by = _Process.pid
            self._thread.start()

    def _run(self, commits: threading.Event, stop: threading.Event) -> None:
        while not stop.is_set():
            commits.wait()
            if stop.wait(CHECKPOINT_INTERVAL_S):
                break
            commits.clear()
            self._checkpoint()
        self._checkpoint()

    def _checkpoint(self) -> None:
        # A connection per round: an idle checkpointer (a store its owner
        # never closed) holds no file open.
        try:
            # mode=rw: a database file that is gone is not created again.
            connection = sqlite3.connect(
                Path(self.path).as_uri() + "?mode=rw", uri=True, timeout=SQLITE_BUSY_TIMEOUT_S,
                isolation_level=None,
            )
            try:
                _, log_frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                page_size = connection.execute("PRAGMA page_size").fetchone()[0]
                if self.writers is not None and log_frames * page_size > WAL_RESTART_BYTES:
                    connection.execute(f"PRAGMA busy_timeout={WAL_RESTART_WAIT_MS}")
                    with self.writers.turn():
                        connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
            finally:
                connection.close()
        except sqlite3.Error as exc:
            # The next round copies what this one could not; a database
            # gone (its directory removed) ends nothing but this round.
            LOG.debug("checkpoint of %s skipped: %s", self.path, exc)

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None or self._started_by != _Process.pid:
                return
            self._started_by = None
            self._stop.set()
            self._commits.set()
        thread.join()


class _Kept:
    """A thread's connection, and whether a transaction is using it."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.driver = connection.connection.driver_connection
        self.pid = _Process.pid
        self.busy = False

    def usable(self) -> bool:
        return self.pid == _Process.pid and not self.connection.closed and not self.connection.invalidated

    def close(self) -> None:
        # Never in a forked child: the connection is its parent's.
        if self.pid == _Process.pid and not self.connection.closed:
            try:
                self.connection.close()
            except Exception as exc:  # at interpreter exit the pool may be gone
                LOG.debug("closing a kept connection: %s", exc)

    def __del__(self) -> None:
        # The thread that kept it has ended.
        self.close()


# Connections a forked child inherited from its parent's threads: held here
# so that the child never closes them (that is the parent's to do).
_INHERITED: list[_Kept] = []


class KeptConnections:
    """One connection per thread, kept between its transactions (SQLite
    files only).

    Taking a connection from SQLAlchemy's pool and giving it back costs
    about 35 µs, more than a short SQLite transaction, and a scheduler runs
    two per placement. A connection to a SQLite file is only an open file,
    so each thread keeps one; PostgreSQL's are server processes, which the
    pool bounds. A transaction begun while the thread's connection is in
    one (a nested transaction) takes one from the pool, as before.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        self._every: weakref.WeakSet[_Kept] = weakref.WeakSet()
        self._lock = threading.Lock()

    def take(self) -> _Kept | None:
        """The thread's connection, marked busy until its ``busy`` is
        cleared; None while it is busy (the caller takes one from the pool)."""
        kept = getattr(self._local, "kept", None)
        if kept is not None and kept.busy:
            return None
        if kept is None or not kept.usable():
            if kept is not None and kept.pid != _Process.pid:
                _INHERITED.append(kept)
            elif kept is not None:
                kept.close()
            kept = self._local.kept = _Kept(self.engine.connect())
            with self._lock:
                self._every.add(kept)
        kept.busy = True
        return kept

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        kept = self.take()
        if kept is None:
            with self.engine.connect() as connection:
                yield connection
            return
        try:
            yield kept.connection
        finally:
            kept.busy = False

    def close(self) -> None:
        with self._lock:
            every = list(self._every)
        for kept in every:
            kept.close()
        self._local = threading.local()


class Database:
    """An engine and the two kinds of transaction berth uses."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        path = sqlite_path(url)
        self.writers = WriterQueue(path) if path is not None else None
        self.checkpointer = Checkpointer(path, self.writers) if path is not None else None
        # An in-memory database already shares one connection (StaticPool).
        self.kept = KeptConnections(self.engine) if path is not None else None

    def _connection(self) -> contextlib.AbstractContextManager[Connection]:
        return self.kept.connection() if self.kept is not None else self.engine.connect()

    @contextlib.contextmanager
    def reading(self, snapshot: bool = False) -> Iterator[Connection]:
        """A read transaction. On PostgreSQL each statement sees the latest
        commits unless ``snapshot`` asks for one view of the whole
        transaction (REPEATABLE READ); SQLite always gives one view."""
        kept = self.kept.take() if self.kept is not None else None
        if kept is not None:
            # The thread's own SQLite connection, in one generator: the
            # layers below (errors, connection, transaction) as context
            # managers of their own cost more than the transaction.
            try:
                _driver_begin(kept.driver, "DEFERRED")
                try:
                    yield kept.connection
                except BaseException:
                    _driver_rollback(kept.connection, kept.driver)
                    raise
                _driver_commit(kept.connection, kept.driver)
            except sa.exc.DBAPIError as exc:
                _raise_translated(exc)
            finally:
                kept.busy = False
            return
        with _translated_errors(), self._connection() as connection:
            if snapshot and not self.is_sqlite:
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with self._transaction(connection, "DEFERRED"):
                yield connection

    @contextlib.contextmanager
    def statement(self) -> Iterator[Connection]:
        """A connection for a read of one statement, which sees one snapshot
        without a transaction of its own. On SQLite's kept connections the
        statement runs outside any (SQLite commits it on its own); elsewhere
        it is a read transaction, as ``reading`` gives."""
        kept = self.kept.take() if self.kept is not None else None
        if kept is None:
            with self.reading() as connection:
                yield connection
            return
        try:
            yield kept.connection
        except sa.exc.DBAPIError as exc:
            _raise_translated(exc)
        finally:
            # A statement through SQLAlchemy would have begun a transaction.
            _driver_rollback(kept.connection, kept.driver)
            kept.busy = False

    @contextlib.contextmanager
    def writing(self) -> Iterator[Connection]:
        kept = self.kept.take() if self.kept is not None else None
        if kept is not None:
            # As in reading(); the writers' turn covers BEGIN to COMMIT.
            try:
                self.writers.acquire()
                try:
                    _driver_begin(kept.driver, "IMMEDIATE")
                    try:
                        yield kept.connection
                        changes.flush(kept.connection)
                    except BaseException:
                        _driver_rollback(kept.connection, kept.driver)
                        raise
                    _driver_commit(kept.connection, kept.driver)
                finally:
                    self.writers.release()
            except sa.exc.DBAPIError as exc:
                _raise_translated(exc)
            finally:
                kept.busy = False
            self.checkpointer.committed()
            return
        turn = self.writers.turn() if self.writers is not None else contextlib.nullcontext()
        with _translated_errors(), self._connection() as connection:
            connection.info["berth_writing"] = True
            try:
                # The turn covers BEGIN to COMMIT only: taking a connection
                # from the pool and giving it back need no turn, and every
                # writer waits for the one in its turn.
                with turn, self._transaction(connection, "IMMEDIATE"):
                    yield connection
                    # Stamp the change feed last, just before commit.
                    changes.flush(connection)
            finally:
                connection.info.pop("berth_writing", None)
        if self.checkpointer is not None:
            self.checkpointer.committed()

    def _transaction(self, connection: Connection, mode: str) -> contextlib.AbstractContextManager[None]:
        if self.kept is None:
            return connection.begin()
        return _driver_transaction(connection, mode)

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        if self.kept is not None:
            self.kept.close()
        self.engine.dispose()
        if self.writers is not None:
            self.writers.close()


@contextlib.contextmanager
def _driver_transaction(connection: Connection, mode: str) -> Iterator[None]:
    """A SQLite transaction begun and ended on the driver connection.

    Works around SQLAlchemy's transaction bookkeeping (its begin and
    commit, their events and context managers), which costs more than a
    short SQLite transaction's BEGIN and COMMIT together; a scheduler runs
    two transactions per placement. Statements run through SQLAlchemy
    start its own transaction on the first of them (autobegin): the
    ``begin`` listener then finds the driver's already begun, and the end
    goes through SQLAlchemy so that it forgets its transaction too.
    """
    driver = connection.connection.driver_connection
    _driver_begin(driver, mode)
    try:
        yield
    except BaseException:
        _driver_rollback(connection, driver)
        raise
    _driver_commit(connection, driver)


def _driver_begin(driver: sqlite3.Connection, mode: str) -> None:
    try:
        driver.execute(f"BEGIN {mode}")
    except sqlite3.Error as exc:
        raise sa.exc.DBAPIError.instance(f"BEGIN {mode}", (), exc, sqlite3.Error) from exc


def _driver_rollback(connection: Connection, driver: sqlite3.Connection) -> None:
    if connection.in_transaction():
        connection.rollback()
    elif driver.in_transaction:
        driver.rollback()


def _driver_commit(connection: Connection, driver: sqlite3.Connection) -> None:
    try:
        if connection.in_transaction():
            connection.commit()
        else:
            try:
                driver.commit()
            except sqlite3.Error as exc:
                raise sa.exc.DBAPIError.instance("COMMIT", (), exc, sqlite3.Error) from exc
    except BaseException:
        # A COMMIT SQLite refuses (a deferred constraint, a full disk)
        # leaves the transaction open: end it, or the kept connection's
        # next BEGIN would fail. SQLAlchemy's rollback also clears a
        # transaction of its own that the failed commit left invalid (and
        # does nothing when it has none).
        connection.rollback()
        if driver.in_transaction:
            driver.rollback()
        raise


# PostgreSQL error codes that mean "another transaction got there first".
_CONCURRENCY_SQLSTATES = {"40001", "40P01"}


@contextlib.contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except sa.exc.DBAPIError as exc:
        _raise_translated(exc)


def _raise_translated(exc: sa.exc.DBAPIError) -> NoReturn:
    """Raise berth's error for a driver error that means another
    transaction got there first; any other goes on as it is."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _CONCURRENCY_SQLSTATES:
        raise errors.ConcurrentUpdate() from exc
    if isinstance(exc, sa.exc.IntegrityError):
        # A unique key taken by a concurrent writer between our check
        # and our insert: the caller's view is stale.
        raise errors.ConcurrentUpdate() from exc
    raise exc


def sqlite_path(url: str) -> str | None:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return os.path.abspath(parsed.database)
