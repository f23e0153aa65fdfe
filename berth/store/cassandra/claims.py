"""Claims: writing a set of consumers' allocations, all or nothing, over
partitions that no single Cassandra transaction spans.

The protocol, for transaction ``tx``:

1. Record ``tx`` in ``claim_tx`` (state 'open', a deadline, the plan).
2. Lock each consumer, in uuid order, by CAS on its row: ``IF tx = null AND
   generation = g`` (or create it as a placeholder ``IF NOT EXISTS``). This
   is the consumer-generation check; a second writer of the same consumer
   fails here.
3. Acquire each tree partition, in partition-key order, with one conditional
   batch: ``IF generation = g`` on every provider whose allocations change
   (bumping it), new allocation rows inserted 'pending' with a TTL, the
   consumers' old rows marked 'releasing'. The capacity check counts every
   row except the consumers' own old ones, so releasing rows stay counted
   for everybody else until the claim commits: capacity is never exceeded,
   not even between steps, and undoing a step can never overflow.
4. Commit: CAS ``claim_tx.state`` from 'open' to 'committed'. The reaper
   aborts a transaction past its deadline by the same CAS to 'aborted', so
   exactly one of them wins.
5. Finalise (idempotent): pending rows become 'held', releasing rows are
   deleted, each consumer gets its new generation and allocations and is
   unlocked, the record is deleted. Aborting undoes 3 and 2 instead.

A CAS whose outcome is unknown is read back at SERIAL: every row a claim
writes names ``tx``, so the read-back is exact.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import json
import logging
import time
import uuid as uuidlib
from collections.abc import Sequence

from berth.placement import errors
from berth.placement.model import NOT_CHECKED, UNKNOWN_CONSUMER_TYPE, ConsumerClaim
from berth.store.cassandra import catalog, changes, trees
from berth.store.cassandra.providers import Locator
from berth.store.cassandra.session import Connection, as_utc, utcnow
from berth.store.cassandra.trees import HELD, PENDING, RELEASING, Partition

log = logging.getLogger(__name__)

# Seconds a claim may take before the reaper may abort it.
DEADLINE_S = 30.0
# A pending row outlives any deadline; its TTL only ever removes rows of a
# claim that nobody finalised for a day (every berth process reaps).
PENDING_TTL_S = 86_400
# Retries of one partition's batch when a concurrent claim moved a
# generation in between our read and our write.
ACQUIRE_ATTEMPTS = 25


@dataclasses.dataclass(frozen=True, slots=True)
class ConsumerPlan:
    """What a transaction will make of one consumer."""

    uuid: str
    project_id: str
    user_id: str
    consumer_type: str | None
    allocations: dict[str, dict[int, int]]  # provider -> class id -> amount
    base_generation: int  # the generation locked; 0 for a new consumer
    old_project: str | None
    is_new: bool

    @property
    def clears(self) -> bool:
        return not self.allocations


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    tx: str
    consumers: tuple[ConsumerPlan, ...]
    parts: tuple[str, ...]
    providers: tuple[str, ...]  # every provider whose usage may change

    def to_json(self) -> str:
        return json.dumps(
            {
                "consumers": [dataclasses.asdict(c) for c in self.consumers],
                "parts": list(self.parts),
                "providers": list(self.providers),
            }
        )

    @classmethod
    def from_json(cls, tx: str, text: str) -> Plan:
        data = json.loads(text)
        consumers = tuple(
            ConsumerPlan(
                **{
                    **c,
                    "allocations": {
                        rp: {int(rc): amount for rc, amount in resources.items()}
                        for rp, resources in c["allocations"].items()
                    },
                }
            )
            for c in data["consumers"]
        )
        return cls(tx, consumers, tuple(data["parts"]), tuple(data["providers"]))


@dataclasses.dataclass(frozen=True, slots=True)
class _ConsumerState:
    """A consumer row as read at SERIAL (None fields when absent)."""

    exists: bool
    placeholder: bool
    generation: int
    tx: str | None
    project_id: str | None
    consumer_type: str | None
    allocations: dict[str, dict[int, int]]


_SELECT_CONSUMER = (
    "SELECT uuid, project, user, consumer_type, generation, placeholder, tx, allocations, "
    "created_at, updated_at FROM {ks}.consumers WHERE uuid = ?"
)


def read_consumer(conn: Connection, uuid: str, serial: bool = True) -> _ConsumerState:
    rows = (conn.read_serial if serial else conn.execute)(_SELECT_CONSUMER, (uuid,))
    if not rows:
        return _ConsumerState(False, True, 0, None, None, None, {})
    r = rows[0]
    allocations = {rp: dict(resources) for rp, resources in (r.allocations or {}).items()}
    return _ConsumerState(True, bool(r.placeholder), r.generation or 0, r.tx, r.project, r.consumer_type, allocations)


class ClaimWriter:
    """Runs the protocol above; also the reaper of abandoned transactions."""

    def __init__(self, conn: Connection, locator: Locator) -> None:
        self.conn = conn
        self.locator = locator

    # -- the claim ---------------------------------------------------------------

    def write(self, claims: Sequence[ConsumerClaim], delete_only: bool = False) -> None:
        classes = catalog.read_classes(self.conn)
        ids = classes.ids({rc for c in claims for a in c.allocations.values() for rc in a})
        for rp in sorted({rp for c in claims for rp in c.allocations}):
            self.locator.get(rp)
        states = {c.consumer_uuid: self._settled_consumer(c.consumer_uuid) for c in claims}
        for claim in claims:
            _check_consumer_generation(claim, states[claim.consumer_uuid])
        plan = self._plan(claims, states, ids)
        self._record(plan)
        try:
            self._lock_consumers(plan, states)
            for part in plan.parts:
                self._acquire(plan, part, classes.by_id)
            self._commit(plan)
        except BaseException:
            self.abort(plan)
            raise
        self.finalise(plan)

    def _plan(self, claims: Sequence[ConsumerClaim], states: dict[str, _ConsumerState], ids: dict[str, int]) -> Plan:
        consumers = []
        providers: set[str] = set()
        for claim in claims:
            state = states[claim.consumer_uuid]
            live = state.exists and not state.placeholder
            allocations = {
                rp: {ids[rc]: amount for rc, amount in resources.items()}
                for rp, resources in claim.allocations.items()
            }
            consumer_type = claim.consumer_type or (state.consumer_type if live else None)
            consumers.append(
                ConsumerPlan(
                    uuid=claim.consumer_uuid,
                    project_id=claim.project_id,
                    user_id=claim.user_id,
                    consumer_type=consumer_type,
                    allocations=allocations,
                    base_generation=state.generation if live else 0,
                    old_project=state.project_id if live else None,
                    is_new=not state.exists,
                )
            )
            providers |= set(allocations) | set(state.allocations)
        parts = {self.locator.get(rp) for rp in providers}
        return Plan(str(uuidlib.uuid4()), tuple(consumers), tuple(sorted(parts)), tuple(sorted(providers)))

    def _settled_consumer(self, uuid: str) -> _ConsumerState:
        """The consumer's state once no finished transaction holds it."""
        for _ in range(3):
            state = read_consumer(self.conn, uuid)
            if state.tx is None or not self._settle(state.tx, uuid):
                return state
        return state

    def _settle(self, tx: str, consumer: str) -> bool:
        """Finish ``tx`` if it is decided or past its deadline; True when it
        was (so the consumer should be read again)."""
        rows = self.conn.read_serial("SELECT state, deadline, plan FROM {ks}.claim_tx WHERE tx = ?", (tx,))
        if not rows:
            # The record is gone (finalised, or expired after a week):
            # nothing of tx is left to decide; free the consumer.
            self._unlock(consumer, tx)
            return True
        record = rows[0]
        plan = Plan.from_json(tx, record.plan)
        if record.state == "committed":
            self.finalise(plan)
            return True
        if record.state == "aborted" or as_utc(record.deadline) < utcnow():
            self.abort(plan)
            return True
        return False

    def _record(self, plan: Plan) -> None:
        deadline = utcnow() + datetime.timedelta(seconds=DEADLINE_S)
        self.conn.execute(
            "INSERT INTO {ks}.claim_tx (tx, state, deadline, parts, consumers, plan) VALUES (?, 'open', ?, ?, ?, ?)",
            (plan.tx, deadline, set(plan.parts) or None, [c.uuid for c in plan.consumers], plan.to_json()),
        )

    def _lock_consumers(self, plan: Plan, states: dict[str, _ConsumerState]) -> None:
        for consumer in sorted(plan.consumers, key=lambda c: c.uuid):
            state = states[consumer.uuid]
            if not state.exists:
                cql = (
                    "INSERT INTO {ks}.consumers (uuid, generation, placeholder, tx) VALUES (?, 0, true, ?) "
                    "IF NOT EXISTS"
                )
                params: tuple = (consumer.uuid, plan.tx)
            elif state.placeholder:
                cql = "UPDATE {ks}.consumers SET tx = ? WHERE uuid = ? IF tx = null AND placeholder = true"
                params = (plan.tx, consumer.uuid)
            else:
                cql = "UPDATE {ks}.consumers SET tx = ? WHERE uuid = ? IF tx = null AND generation = ?"
                params = (plan.tx, consumer.uuid, state.generation)
            locked = self.conn.cas(
                [(cql, params)], resolve=lambda uuid=consumer.uuid: read_consumer(self.conn, uuid).tx == plan.tx
            )
            if not locked.applied:
                raise errors.ConcurrentUpdate(
                    "consumer generation conflict - another request changed consumer "
                    f"{consumer.uuid} at the same time"
                )

    def _acquire(self, plan: Plan, part: str, names: dict[int, str]) -> None:
        for _ in range(ACQUIRE_ATTEMPTS):
            partition = trees.read_partition(self.conn, part)
            statements = _acquire_statements(plan, partition, names)
            if not statements:
                return
            if self.conn.cas(statements, resolve=lambda: _holds_rows_of(self._read(part), plan.tx)).applied:
                return
            time.sleep(0.002)
        raise errors.ConcurrentUpdate()

    def _read(self, part: str) -> Partition:
        return trees.read_partition(self.conn, part)

    def _commit(self, plan: Plan) -> None:
        commit = "UPDATE {ks}.claim_tx SET state = 'committed' WHERE tx = ? IF state = 'open'"
        done = self.conn.cas([(commit, (plan.tx,))], resolve=lambda: self._state(plan.tx) == "committed")
        if not done.applied:
            raise errors.ConcurrentUpdate("the claim took too long and was aborted")

    def _state(self, tx: str) -> str | None:
        rows = self.conn.read_serial("SELECT state FROM {ks}.claim_tx WHERE tx = ?", (tx,))
        return rows[0].state if rows else None

    # -- finishing: forward or back; both idempotent -------------------------------

    def finalise(self, plan: Plan) -> None:
        for part in plan.parts:
            self._settle_partition(part, plan.tx, forward=True)
        for consumer in sorted(plan.consumers, key=lambda c: c.uuid):
            self._finalise_consumer(plan.tx, consumer)
        self._forget(plan)

    def abort(self, plan: Plan) -> None:
        """Undo ``plan`` unless it committed (then finish it instead)."""
        abort = "UPDATE {ks}.claim_tx SET state = 'aborted' WHERE tx = ? IF state = 'open'"
        result = self.conn.cas([(abort, (plan.tx,))], resolve=lambda: self._state(plan.tx) == "aborted")
        if not result.applied and result.current and result.current[0].state == "committed":
            self.finalise(plan)
            return
        for part in plan.parts:
            self._settle_partition(part, plan.tx, forward=False)
        for consumer in plan.consumers:
            self._unlock(consumer.uuid, plan.tx)
        self._forget(plan)

    def _unlock(self, consumer: str, tx: str) -> None:
        unlock = "UPDATE {ks}.consumers SET tx = null WHERE uuid = ? IF tx = ?"
        self.conn.cas_until([(unlock, (consumer, tx))], done=lambda: self._released(consumer, tx))

    def _released(self, consumer: str, tx: str) -> bool:
        return read_consumer(self.conn, consumer).tx != tx

    def _settle_partition(self, part: str, tx: str, forward: bool) -> None:
        for _ in range(ACQUIRE_ATTEMPTS):
            partition = trees.read_partition(self.conn, part)
            statements = _settle_statements(partition, tx, forward)
            if not statements:
                return
            self.conn.cas(statements, resolve=lambda: not _holds_rows_of(self._read(part), tx))
        raise errors.ConcurrentUpdate()

    def _finalise_consumer(self, tx: str, consumer: ConsumerPlan) -> None:
        now = utcnow()
        if consumer.clears:
            cql = (
                "UPDATE {ks}.consumers SET generation = 0, placeholder = true, tx = null, allocations = null, "
                "project = null, user = null, consumer_type = null, updated_at = ? WHERE uuid = ? IF tx = ?"
            )
            params: tuple = (now, consumer.uuid, tx)
        else:
            # A consumer's first write sets created_at, later ones updated_at.
            stamp = "created_at" if consumer.base_generation == 0 else "updated_at"
            cql = (
                "UPDATE {ks}.consumers SET generation = ?, placeholder = false, tx = null, allocations = ?, "
                f"project = ?, user = ?, consumer_type = ?, {stamp} = ? WHERE uuid = ? IF tx = ?"
            )
            params = (
                consumer.base_generation + 1, consumer.allocations, consumer.project_id, consumer.user_id,
                consumer.consumer_type, now, consumer.uuid, tx,
            )
        self.conn.cas_until([(cql, params)], done=lambda: self._released(consumer.uuid, tx))
        index = []
        if consumer.old_project and (consumer.clears or consumer.old_project != consumer.project_id):
            index.append(
                ("DELETE FROM {ks}.consumers_by_project WHERE project = ? AND consumer = ?", (consumer.old_project, consumer.uuid))
            )
        if not consumer.clears:
            index.append(
                ("INSERT INTO {ks}.consumers_by_project (project, consumer) VALUES (?, ?)", (consumer.project_id, consumer.uuid))
            )
        self.conn.write_plain(index)

    def _forget(self, plan: Plan) -> None:
        self.conn.cas_until(
            [("DELETE FROM {ks}.claim_tx WHERE tx = ? IF EXISTS", (plan.tx,))],
            done=lambda: self._state(plan.tx) is None,
        )
        changes.touch(self.conn, plan.providers)

    # -- the reaper --------------------------------------------------------------------

    def reap(self) -> int:
        """Finish every transaction that is decided or past its deadline (its
        claimer died or hung); return how many were finished."""
        finished = 0
        now = utcnow()
        for record in self.conn.execute("SELECT tx, state, deadline, plan FROM {ks}.claim_tx"):
            if record.state == "open" and as_utc(record.deadline) >= now:
                continue
            plan = Plan.from_json(record.tx, record.plan)
            try:
                if record.state == "committed":
                    self.finalise(plan)
                else:
                    self.abort(plan)
                finished += 1
            except errors.BerthError as exc:  # another reaper or a retry finishes it
                log.warning("reaping claim %s failed: %s", record.tx, exc)
        return finished


def _check_consumer_generation(claim: ConsumerClaim, state: _ConsumerState) -> None:
    expected = claim.expected_generation
    if expected is NOT_CHECKED:
        return
    actual = state.generation if state.exists and not state.placeholder else None
    if actual != expected:
        shown = "null" if actual is None else actual
        raise errors.ConcurrentUpdate(f"consumer generation conflict - expected {shown} but got {expected}")


_INSERT_PENDING = (
    "INSERT INTO {ks}.tree (part, provider, kind, key, consumer, rc, used, state, tx, created_at) "
    f"VALUES (?, ?, 'a', ?, ?, ?, ?, '{PENDING}', ?, ?) USING TTL {PENDING_TTL_S}"
)
_MARK_RELEASING = (
    f"UPDATE {{ks}}.tree SET state = '{RELEASING}', release_tx = ? "
    f"WHERE part = ? AND provider = ? AND kind = 'a' AND key = ? IF state = '{HELD}'"
)


def _acquire_statements(plan: Plan, partition: Partition, names: dict[int, str]) -> list[tuple[str, tuple]]:
    """The batch that takes this partition's share of ``plan``, after
    checking that it fits; empty when the share is already taken."""
    if _holds_rows_of(partition, plan.tx):
        return []
    ours = frozenset(c.uuid for c in plan.consumers)
    requested: dict[tuple[str, int], int] = collections.Counter()
    for consumer in plan.consumers:
        for rp, resources in consumer.allocations.items():
            if rp in partition.providers:
                for rc, amount in resources.items():
                    requested[(rp, rc)] += amount
    _check_fit(plan, partition, requested, ours, names)
    now = utcnow()
    statements: list[tuple[str, tuple]] = []
    changed: set[str] = set()
    for a in partition.allocations:
        if a.state == HELD and a.consumer in ours:
            statements.append((_MARK_RELEASING, (plan.tx, partition.part, a.provider, a.key)))
            changed.add(a.provider)
    for consumer in plan.consumers:
        for rp, resources in consumer.allocations.items():
            if rp not in partition.providers:
                continue
            for rc, amount in resources.items():
                key = f"{consumer.uuid}:{rc}:{plan.tx}"
                statements.append((_INSERT_PENDING, (partition.part, rp, key, consumer.uuid, rc, amount, plan.tx, now)))
                changed.add(rp)
    for rp in sorted(changed):
        statements.append(trees.bump(partition.providers[rp], now, plan.tx))
    return statements


def _check_fit(
    plan: Plan,
    partition: Partition,
    requested: dict[tuple[str, int], int],
    ours: frozenset[str],
    names: dict[int, str],
) -> None:
    """Every amount fits its inventory's unit rules, and every provider and
    class stays within capacity beside every other row of the partition."""
    usage = partition.check_usage(exclude_consumers=ours)
    for consumer in plan.consumers:
        for rp, resources in consumer.allocations.items():
            if rp not in partition.providers:
                continue
            inventories = partition.inventories.get(rp, {})
            for rc, amount in resources.items():
                row = inventories.get(rc)
                name = names.get(rc, str(rc))
                if row is None:
                    raise errors.NoInventoryForAllocation(rp, name)
                if not row.inventory.admits(amount):
                    raise errors.UnitConstraintsViolated(rp, name)
                if usage.get((rp, rc), 0) + requested[(rp, rc)] > row.inventory.capacity:
                    raise errors.CapacityExceeded(rp, name)


def _holds_rows_of(partition: Partition, tx: str) -> bool:
    return any(a.tx == tx and a.state == PENDING or a.release_tx == tx for a in partition.allocations)


def _settle_statements(partition: Partition, tx: str, forward: bool) -> list[tuple[str, tuple]]:
    statements: list[tuple[str, tuple]] = []
    for a in partition.allocations:
        where = (partition.part, a.provider, a.key)
        if a.tx == tx and a.state == PENDING:
            if forward:
                # Rewrite every cell without a TTL: the row outlives its reservation.
                statements.append((
                    "UPDATE {ks}.tree USING TTL 0 SET consumer = ?, rc = ?, used = ?, state = 'held', "
                    "tx = ?, created_at = ? WHERE part = ? AND provider = ? AND kind = 'a' AND key = ? "
                    "IF tx = ? AND state = 'pending'",
                    (a.consumer, a.rc, a.used, tx, a.changed_at, *where, tx),
                ))
            else:
                statements.append((
                    "DELETE FROM {ks}.tree WHERE part = ? AND provider = ? AND kind = 'a' AND key = ? "
                    "IF tx = ? AND state = 'pending'",
                    (*where, tx),
                ))
        elif a.release_tx == tx and a.state == RELEASING:
            if forward:
                statements.append((
                    "DELETE FROM {ks}.tree WHERE part = ? AND provider = ? AND kind = 'a' AND key = ? "
                    "IF release_tx = ?",
                    (*where, tx),
                ))
            else:
                statements.append((
                    "UPDATE {ks}.tree SET state = 'held', release_tx = null "
                    "WHERE part = ? AND provider = ? AND kind = 'a' AND key = ? IF release_tx = ?",
                    (*where, tx),
                ))
    return statements
