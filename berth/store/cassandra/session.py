"""The driver session: consistency levels, prepared statements, and the one
place where driver errors become berth's.

Every write that depends on what it read is a lightweight transaction at
SERIAL with QUORUM commits; plain reads are at QUORUM, and reads that a
compare-and-set decision rests on are at SERIAL. A CAS whose outcome is
unknown (a write timeout of type CAS) is never guessed: ``cas`` asks the
caller's ``resolve`` to read back at SERIAL and say whether it applied.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cassandra import ConsistencyLevel, OperationTimedOut, ReadTimeout, Unavailable, WriteTimeout
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.connection import ConnectionException
from cassandra.policies import ConstantReconnectionPolicy, RetryPolicy, RoundRobinPolicy, TokenAwarePolicy, WriteType
from cassandra.query import BatchStatement, BatchType, PreparedStatement, SimpleStatement

from berth.placement import errors
from berth.store.cassandra.url import CassandraUrl

log = logging.getLogger(__name__)

# Seconds the driver waits for one request. Above the cluster's own
# timeouts (5 s writes, 10 s reads, 5 s CAS contention), so the server's
# verdict (a timeout it can classify) arrives before the client gives up.
REQUEST_TIMEOUT_S = 30
# How often an uncertain outcome is read back before giving up.
RESOLVE_ATTEMPTS = 5
# Seconds a schema change may take to reach every node. The driver's
# default, 10 s, was exceeded on 3 nodes sharing 2 loaded cores; it then
# carried on, and the next statement of ``berth db upgrade``, coordinated
# by a node that had not yet heard of the new keyspace, failed.
SCHEMA_AGREEMENT_WAIT_S = 60


class StoreUnavailable(errors.StoreUnavailable):
    """The cluster could not answer (too few replicas, timeouts)."""

    message = "The Cassandra cluster is unavailable."


@dataclasses.dataclass(frozen=True, slots=True)
class CasResult:
    """What a lightweight transaction answered: applied, or the current
    values of the rows its conditions named."""

    applied: bool
    current: tuple[Any, ...] = ()


def utcnow() -> datetime.datetime:
    """UTC at millisecond precision, as Cassandra stores timestamps."""
    now = datetime.datetime.now(datetime.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime.datetime | None) -> datetime.datetime | None:
    """The driver returns naive UTC datetimes."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


class _RetryIdempotentOnly(RetryPolicy):
    """The driver's default policy retries any request on the next node when
    its connection fails, conditional writes included; a conditional write
    whose first attempt applied would then be refused and look failed. So
    only idempotent requests are retried; a conditional write's failure
    reaches ``cas``, which reads back what happened."""

    def on_request_error(self, query, consistency, error, retry_num):
        if query is not None and query.is_idempotent:
            return self.RETRY_NEXT_HOST, None
        return self.RETHROW, None


class Connection:
    """One driver cluster and session for one keyspace."""

    def __init__(self, url: CassandraUrl) -> None:
        self.url = url
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(RoundRobinPolicy()),
            consistency_level=ConsistencyLevel.QUORUM,
            serial_consistency_level=ConsistencyLevel.SERIAL,
            request_timeout=REQUEST_TIMEOUT_S,
            retry_policy=_RetryIdempotentOnly(),
        )
        self.cluster = Cluster(
            list(url.hosts),
            port=url.port,
            # Protocol 5 reports an unknown CAS outcome as error 0x1700,
            # which this driver has no class for; below 5 the server sends a
            # WriteTimeout of type CAS instead, which ``cas`` resolves.
            protocol_version=4,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            # Back within a second of a node's restart.
            reconnection_policy=ConstantReconnectionPolicy(1.0),
            max_schema_agreement_wait=SCHEMA_AGREEMENT_WAIT_S,
        )
        self._session: Session | None = None
        self._prepared: dict[str, PreparedStatement] = {}

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = translate(self.cluster.connect)
        return self._session

    def close(self) -> None:
        self.cluster.shutdown()

    def prepare(self, cql: str) -> PreparedStatement:
        statement = self._prepared.get(cql)
        if statement is None:
            statement = translate(self.session.prepare, cql.format(ks=self.url.keyspace))
            # Reads and unconditional writes may be retried on another node
            # when a connection drops (a node killed mid-request); a
            # conditional write may not: its outcome is read back instead.
            statement.is_idempotent = " IF " not in cql
            self._prepared[cql] = statement
        return statement

    # -- plain statements ------------------------------------------------------

    def execute(self, cql: str, params: Sequence[Any] = ()) -> list:
        """A plain statement at QUORUM; the rows it returned."""
        return list(translate(self.session.execute, self.prepare(cql), params))

    def execute_async(self, cql: str, params: Sequence[Any] = ()):
        """Send a plain statement; ``.result()`` on the answer waits for it."""
        future = self.session.execute_async(self.prepare(cql), params)
        return _Answer(future)

    def read_serial_async(self, cql: str, params: Sequence[Any] = ()) -> _Answer:
        """``read_serial`` sent now, awaited with ``.result()``."""
        bound = self.prepare(cql).bind(params)
        bound.consistency_level = ConsistencyLevel.SERIAL
        return _Answer(self.session.execute_async(bound))

    def read_serial(self, cql: str, params: Sequence[Any] = ()) -> list:
        """A linearizable read: sees every applied CAS and finishes any
        in-flight proposal on the partition first."""
        bound = self.prepare(cql).bind(params)
        bound.consistency_level = ConsistencyLevel.SERIAL
        return list(translate(self.session.execute, bound))

    def ddl(self, cql: str) -> None:
        """A schema change, returned once every live node has it."""
        result = translate(self.session.execute, SimpleStatement(cql.format(ks=self.url.keyspace)))
        if not result.response_future.is_schema_agreed:
            raise StoreUnavailable(f"the nodes did not agree on the schema within {SCHEMA_AGREEMENT_WAIT_S} s: {cql}")

    def write_plain(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """Unconditional writes, sent together; for tables no CAS reads."""
        for answer in self.send_plain(statements):
            answer.result()

    def send_plain(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> list[_Answer]:
        """Send unconditional writes without waiting; ``result()`` each."""
        return [self.execute_async(cql, params) for cql, params in statements]

    # -- lightweight transactions ------------------------------------------------

    def cas(
        self,
        statements: Sequence[tuple[str, Sequence[Any]]],
        resolve: Callable[[], bool],
    ) -> CasResult:
        """One conditional statement, or a conditional batch on one partition.

        ``resolve`` reads back at SERIAL and says whether this very write
        applied; it is called only when the outcome is unknown.
        """
        if len(statements) == 1:
            cql, params = statements[0]
            request: Any = self.prepare(cql).bind(params)
        else:
            request = BatchStatement(batch_type=BatchType.LOGGED)
            for cql, params in statements:
                request.add(self.prepare(cql), params)
        try:
            rows = list(self.session.execute(request))
        except WriteTimeout as exc:
            if exc.write_type not in (WriteType.CAS, WriteType.SIMPLE, WriteType.BATCH):
                raise StoreUnavailable(f"write timed out: {exc}") from exc
            return CasResult(self._resolve(resolve, exc))
        except (OperationTimedOut, NoHostAvailable, ConnectionException) as exc:
            # The request may have reached a coordinator: unknown, as above.
            return CasResult(self._resolve(resolve, exc))
        except (Unavailable, ReadTimeout) as exc:
            # Unavailable is raised before anything is proposed; a read
            # timeout in the Paxos prepare phase proposes nothing either.
            raise StoreUnavailable(f"compare-and-set failed: {exc}") from exc
        if not rows:
            return CasResult(True)
        applied = rows[0][0]
        return CasResult(bool(applied), tuple(rows) if not applied else ())

    def cas_until(self, statements: Sequence[tuple[str, Sequence[Any]]], done: Callable[[], bool]) -> None:
        """An idempotent conditional write, repeated until ``done()`` (a read
        at SERIAL) sees its effect: for steps that must happen, such as
        finishing a claim, where a refused condition means it already did."""
        for _ in range(RESOLVE_ATTEMPTS):
            result = self.cas(statements, resolve=done)
            if result.applied or done():
                return
        raise StoreUnavailable("a conditional write kept failing to take effect")

    def _resolve(self, resolve: Callable[[], bool], cause: Exception) -> bool:
        log.warning("outcome of a compare-and-set unknown (%s); reading back at SERIAL", cause)
        last: Exception = cause
        for attempt in range(RESOLVE_ATTEMPTS):
            try:
                return resolve()
            except StoreUnavailable as exc:
                last = exc
                time.sleep(0.5 * (attempt + 1))
        raise StoreUnavailable(f"outcome of a compare-and-set still unknown: {last}") from cause


class _Answer:
    """A pending driver answer whose failures are translated on ``result``."""

    def __init__(self, future) -> None:
        self._future = future

    def result(self) -> list:
        return list(translate(self._future.result))


def translate(call: Callable, *args: Any) -> Any:
    """Run a driver call; its failures become StoreUnavailable."""
    try:
        return call(*args)
    except (NoHostAvailable, OperationTimedOut, Unavailable, ReadTimeout, WriteTimeout, ConnectionException) as exc:
        raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
