"""Statements written once with SQLAlchemy Core, compiled once per dialect
and shape, and run on the DBAPI cursor of the transaction's connection.

Works around SQLAlchemy's per-execution cost on the hot paths (a claim, the
change feed a scheduler reads before every decision): executing a cached
Core statement costs about 38 µs on SQLite, the same SQL on the sqlite3
cursor about 2 µs, and a claim is about ten statements. The SQL is still
SQLAlchemy's, for SQLite and PostgreSQL alike; only the execution is
direct. The value of a typed parameter goes through its type's bind
processor for the dialect, once per name, as Core's would (SQLite stores
timestamps as text): rows written here are stored as Core stores them. An
untyped parameter goes to the driver as it is. Results are plain DBAPI
tuples: select only columns whose driver value is what the caller wants
(integers, text, floats).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect


@dataclasses.dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement's SQL and its bind parameters in the order the driver
    takes them: names, defaults, and the bind processors of the few names
    that have one."""

    sql: str
    names: tuple[str, ...]
    defaults: tuple[Any, ...]
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]
    positional: bool

    def parameters(self, given: Mapping[str, Any]) -> tuple | dict:
        if self.processors:
            # Once per name: a positional statement repeats a name at each
            # place it appears (a multi-row insert's shared timestamp).
            given = dict(given)
            for name, process in self.processors:
                value = given.get(name)
                if value is not None:
                    given[name] = process(value)
        # map() over dict.get runs in C: a claim of 100 instances binds a
        # few thousand values.
        values = map(given.get, self.names, self.defaults)
        return tuple(values) if self.positional else dict(zip(self.names, values))


def _compile(statement: sa.Executable, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    names = list(compiled.positiontup) if dialect.positional else list(compiled.binds)
    literals = compiled.params  # made again on each access
    processors: dict[str, Callable[[Any], Any]] = {}
    defaults = []
    for name in names:
        process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        default = literals.get(name)
        if process is not None:
            processors[name] = process
            # A default (a literal the statement binds) is converted once, here.
            default = process(default) if default is not None else None
        defaults.append(default)
    return _Compiled(compiled.string, tuple(names), tuple(defaults), tuple(processors.items()), dialect.positional)


class Prepared:
    """One statement, built by ``build(shape)`` the first time each shape is
    used on each dialect. ``shape`` is whatever changes the SQL text (most
    often the length of an IN list, see ``in_list``); a statement of one
    shape takes no argument. A statement written with a dialect's own
    construct (an upsert) is built by ``build(dialect_name, shape)``
    instead: pass ``per_dialect=True``."""

    def __init__(self, build: Callable[..., sa.Executable], *, per_dialect: bool = False) -> None:
        self._build = build
        self._per_dialect = per_dialect
        self._compiled: dict[tuple[str, Any], _Compiled] = {}
        self._lock = threading.Lock()

    def _for(self, dialect: Dialect, shape: Any) -> _Compiled:
        key = (dialect.name, shape)
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:
                arguments = () if shape is None else (shape,)
                if self._per_dialect:
                    arguments = (dialect.name, *arguments)
                compiled = self._compiled[key] = _compile(self._build(*arguments), dialect)
        return compiled

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None, shape: Any = None):
        """Run once; returns the DBAPI cursor (fetchall, fetchone, rowcount)."""
        compiled = self._for(conn.dialect, shape)
        parameters = compiled.parameters(params or {})
        # Both drivers (sqlite3, psycopg) make and return a cursor here.
        # Their DBAPI connection is the driver's own (no adapter between,
        # as async drivers have): dbapi_connection is a plain attribute,
        # driver_connection two properties deep.
        try:
            return conn.connection.dbapi_connection.execute(compiled.sql, parameters)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _as_sqlalchemy_error(conn, compiled.sql, parameters, exc) from exc

    def rows(self, conn: Connection, params: Mapping[str, Any] | None = None, shape: Any = None) -> list[tuple]:
        cursor = self.execute(conn, params, shape)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None, shape: Any = None) -> int:
        """Run a write; returns the row count."""
        cursor = self.execute(conn, params, shape)
        try:
            return cursor.rowcount
        finally:
            cursor.close()


def _as_sqlalchemy_error(conn: Connection, sql: str, parameters, error: Exception) -> sa.exc.DBAPIError:
    """A driver error as SQLAlchemy's (IntegrityError, OperationalError, ...),
    which engine.py translates like any other statement's."""
    return sa.exc.DBAPIError.instance(sql, parameters, error, conn.dialect.loaded_dbapi.Error)


def in_list(prefix: str, size: int) -> list[sa.BindParameter]:
    """``size`` bind parameters for an IN list: prefix_0, prefix_1, ..."""
    return [sa.bindparam(name) for name in numbered(prefix, size)]


def in_values(prefix: str, values: Sequence[Any]) -> dict[str, Any]:
    """The parameters ``in_list(prefix, len(values))`` expects."""
    return dict(zip(numbered(prefix, len(values)), values))


@functools.lru_cache(maxsize=256)
def numbered(prefix: str, size: int) -> tuple[str, ...]:
    """prefix_0 ... prefix_{size-1}: the names of a list of parameters,
    made once per prefix and size (hot statements bind hundreds)."""
    return tuple(f"{prefix}_{index}" for index in range(size))
