"""Claims: writing a set of consumers' allocations, all or nothing, over
partitions that no single Cassandra transaction spans.

A claim whose providers (old allocations included) are all in one tree
partition, the common case, locks its consumers by CAS, then writes the
final rows with one conditional batch on the partition, which is its commit
point, then gives the consumers their new generations (``_write_single``).

A claim over several partitions runs the full protocol, for transaction
``tx``:

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

A reshape is a claim that also replaces inventories: on one partition its
inventory rows are written in the same conditional batch as its allocation
rows (``IF generation = g`` with the caller's generations), so it is all
or nothing. A reshape over several partitions is refused
(``ReshapeAcrossTrees``): its inventory changes would be visible to other
claimers partition by partition, before the claim commits.

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
from berth.placement.model import NOT_CHECKED, ConsumerClaim, Inventory, InventoryChange
from berth.store.cassandra import catalog, changes, inventories as inventory_rows, moves, retirement, trees
from berth.store.cassandra.providers import Locator
from berth.store.cassandra.session import Connection, StoreUnavailable, as_utc, utcnow
from berth.store.cassandra.trees import HELD, PENDING, RELEASING, Partition

log = logging.getLogger(__name__)

# Seconds a claim may take before the reaper may finish it for its claimer.
DEADLINE_S = 60.0
# A claimer sends no batch in the last seconds before its deadline, so the
# reaper (whose clock may run ahead by less than this) never races a batch
# built after it looked; a batch built earlier and still in flight fails on
# the generations the reaper bumps.
DEADLINE_GUARD_S = 20.0
# A pending row outlives any deadline; its TTL only ever removes rows of a
# claim that nobody finalised for a day (every berth process reaps).
PENDING_TTL_S = 86_400
# Retries of one partition's batch when a concurrent claim moved a
# generation in between our read and our write.
ACQUIRE_ATTEMPTS = 25


class ReshapeAcrossTrees(errors.Conflict):
    """A reshape whose providers are in several tree partitions."""

    def __init__(self) -> None:
        super().__init__(
            "This reshape touches providers of several provider trees (partitions); the Cassandra store "
            "changes inventories and allocations atomically only within one tree. Reshape each tree on its own."
        )


@dataclasses.dataclass(frozen=True, slots=True)
class InventoryPlan:
    """A reshape's inventories: provider -> (expected generation, class id -> inventory)."""

    wanted: dict[str, tuple[int, dict[int, Inventory]]]
    names: tuple[retirement.CatalogName, ...]  # the classes used, recorded and confirmed

    @property
    def providers(self) -> frozenset[str]:
        return frozenset(self.wanted)

    def names_of(self, provider: str) -> list[retirement.CatalogName]:
        """The classes of ``provider``'s final inventory."""
        ids = self.wanted[provider][1]
        return [n for n in self.names if n.incarnation in ids]


_NO_INVENTORIES = InventoryPlan({}, ())


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
    deadline: float  # seconds since the epoch

    def to_json(self) -> str:
        return json.dumps(
            {
                "consumers": [dataclasses.asdict(c) for c in self.consumers],
                "parts": list(self.parts),
                "providers": list(self.providers),
                "deadline": self.deadline,
            }
        )

    def check_time_left(self) -> None:
        if time.time() > self.deadline - DEADLINE_GUARD_S:
            raise errors.ConcurrentUpdate("the claim ran out of time; retry it")

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
        return cls(tx, consumers, tuple(data["parts"]), tuple(data["providers"]), data["deadline"])


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


SELECT_CONSUMER = (
    "SELECT uuid, project, user, consumer_type, generation, placeholder, tx, allocations, "
    "created_at, updated_at FROM {ks}.consumers WHERE uuid = ?"
)


def read_consumer(conn: Connection, uuid: str, serial: bool = True) -> _ConsumerState:
    rows = (conn.read_serial if serial else conn.execute)(SELECT_CONSUMER, (uuid,))
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

    def write(self, claims: Sequence[ConsumerClaim], inventory_changes: Sequence[InventoryChange] = ()) -> None:
        """Replace the claims' consumers' allocations; with
        ``inventory_changes``, a reshape: the inventories change in the same
        batch (one partition only)."""
        # The catalog, the consumers and (for a claim on one tree) the
        # partition are read at the same time. A partition read before the
        # consumers are locked is only a first guess: the batch built from
        # it is conditioned on the generations it saw.
        new_parts = sorted(
            {self.locator.get(rp) for c in claims for rp in c.allocations}
            | {self.locator.get(c.provider_uuid) for c in inventory_changes}
        )
        classes_answer = catalog.read_classes_async(self.conn)
        first_read = None
        if len(new_parts) == 1:
            # At QUORUM: a guess need not finish in-flight proposals (a
            # retry after a refused batch reads at SERIAL).
            first_read = (new_parts[0], self.conn.execute_async(trees.SELECT_PARTITION, (new_parts[0],)))
        states = {c.consumer_uuid: self._settled_consumer(c.consumer_uuid) for c in claims}
        classes = classes_answer()
        ids = classes.ids({rc for c in claims for a in c.allocations.values() for rc in a})
        inventories = _inventory_plan(inventory_changes, classes)
        for claim in claims:
            check_consumer_generation(claim, states[claim.consumer_uuid])
        plan = self._plan(claims, states, ids, extra_parts=new_parts if inventory_changes else ())
        if inventory_changes and len(plan.parts) > 1:
            raise ReshapeAcrossTrees()
        if len(plan.parts) <= 1:
            guess = None
            if first_read is not None and plan.parts == (first_read[0],):
                guess = trees.to_partition(first_read[0], first_read[1].result())
            self._write_single(plan, states, classes.by_id, guess, inventories)
            if inventory_changes:
                changes.touch(self.conn, inventories.providers)
            return
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

    def _classes(self) -> catalog.ClassCatalog:
        """The class catalog, read for every claim: one small partition. (A
        cache could map a name deleted and created again to its old id.)"""
        return catalog.read_classes(self.conn)

    # -- one partition: the batch on the tree is the commit ------------------------

    def _write_single(
        self,
        plan: Plan,
        states: dict[str, _ConsumerState],
        names: dict[int, str],
        guess: Partition | None = None,
        inventories: InventoryPlan = _NO_INVENTORIES,
    ) -> None:
        """A claim on one tree partition (or none, when it only clears):
        lock the consumers, then one conditional batch writes the final rows
        ('held', naming ``tx``) and bumps the generations; that batch is the
        commit point. Then the consumers take their new generations."""
        record = self._record(plan, state="single", wait=False)
        # Change entries before the batch too: should this process die right
        # after it, the change is still in the feed.
        early = self.conn.send_plain(changes.entries({*plan.providers, *inventories.providers}))
        for provider in inventories.providers:
            retirement.record_uses(self.conn, provider, inventories.names_of(provider))
        try:
            self._lock_consumers(plan, states)
            record.result()
            for answer in early:
                answer.result()
        except BaseException:
            self._unlock_all(plan)
            raise
        try:
            if plan.parts:
                self._acquire(plan, plan.parts[0], names, final=True, guess=guess, inventories=inventories)
        except errors.BerthError as exc:
            if isinstance(exc, StoreUnavailable):
                raise  # the batch may have applied: the reaper reads it back
            self._unlock_all(plan)
            raise
        self._finish_single(plan)

    def _finish_single(self, plan: Plan) -> None:
        # The record's deletion and the change entries go out while the
        # consumers are finalised: they depend on nothing but the batch.
        sent = self.conn.send_plain(
            [("DELETE FROM {ks}.claim_tx WHERE tx = ?", (plan.tx,)), *changes.entries(plan.providers)]
        )
        index = []
        for consumer in sorted(plan.consumers, key=lambda c: c.uuid):
            index += self._finalise_consumer(plan.tx, consumer)
        for answer in sent + self.conn.send_plain(index):
            answer.result()

    def _unlock_all(self, plan: Plan) -> None:
        for consumer in plan.consumers:
            self._unlock(consumer.uuid, plan.tx)
        self.conn.write_plain([("DELETE FROM {ks}.claim_tx WHERE tx = ?", (plan.tx,))])

    def _settle_single(self, plan: Plan) -> None:
        """Finish an abandoned one-partition claim: forward if its batch
        applied; otherwise fence it (bump the generations its batch is
        conditioned on, so it can never apply late) and unlock."""
        part = plan.parts[0] if plan.parts else None
        for _ in range(ACQUIRE_ATTEMPTS):
            if part is None:
                break
            partition = trees.read_partition(self.conn, part)
            if any(a.tx == plan.tx for a in partition.allocations):
                self._finish_single(plan)
                return
            now = utcnow()
            fence = [trees.bump(partition.providers[rp], now, plan.tx) for rp in plan.providers if rp in partition.providers]
            if not fence or self.conn.cas(fence, resolve=lambda: False).applied:
                break
        else:
            raise errors.ConcurrentUpdate()
        self._unlock_all(plan)
        changes.touch(self.conn, plan.providers)

    def _plan(
        self,
        claims: Sequence[ConsumerClaim],
        states: dict[str, _ConsumerState],
        ids: dict[str, int],
        extra_parts: Sequence[str] = (),
    ) -> Plan:
        """``extra_parts``: partitions a reshape changes inventories in."""
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
        parts = {self.locator.get(rp) for rp in providers} | set(extra_parts)
        return Plan(
            str(uuidlib.uuid4()), tuple(consumers), tuple(sorted(parts)), tuple(sorted(providers)),
            time.time() + DEADLINE_S,
        )

    def _settled_consumer(self, uuid: str) -> _ConsumerState:
        """The consumer's state once no finished transaction holds it."""
        for _ in range(3):
            # QUORUM sees every committed CAS; the lock's own condition
            # re-checks the generation atomically.
            state = read_consumer(self.conn, uuid, serial=False)
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
        return self._finish_if_due(record.state, as_utc(record.deadline), plan)

    def _finish_if_due(self, state: str, deadline: datetime.datetime, plan: Plan) -> bool:
        """Finish a transaction that is decided, or undecided past its
        deadline; True when it was finished."""
        if state == "committed":
            self.finalise(plan)
        elif state == "aborted" or (state == "open" and deadline < utcnow()):
            self.abort(plan)
        elif state == "single" and deadline < utcnow():
            self._settle_single(plan)
        else:
            return False
        return True

    def _record(self, plan: Plan, state: str = "open", wait: bool = True):
        deadline = datetime.datetime.fromtimestamp(plan.deadline, datetime.UTC)
        future = self.conn.execute_async(
            "INSERT INTO {ks}.claim_tx (tx, state, deadline, parts, consumers, plan) VALUES (?, ?, ?, ?, ?, ?)",
            (plan.tx, state, deadline, set(plan.parts) or None, [c.uuid for c in plan.consumers], plan.to_json()),
        )
        if wait:
            future.result()
        return future

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

    def _acquire(
        self,
        plan: Plan,
        part: str,
        names: dict[int, str],
        final: bool = False,
        guess: Partition | None = None,
        inventories: InventoryPlan = _NO_INVENTORIES,
    ) -> None:
        """Take this partition's share of the plan: 'pending' rows, or with
        ``final`` (one partition) the final 'held' rows, and a reshape's
        inventories. ``guess``: the partition as read earlier, tried first."""
        for _ in range(ACQUIRE_ATTEMPTS):
            partition, guess = guess or trees.read_partition(self.conn, part), None
            if inventories.wanted:
                if _holds_rows_of(partition, plan.tx) or _written_by(partition, inventories, plan.tx):
                    return
                statements = _reshape_statements(plan, partition, names, inventories)
                # After the SERIAL read of the partition (see retirement).
                retirement.confirm_live(self.conn, inventories.names)
            else:
                statements = _acquire_statements(plan, partition, names, final)
            if not statements:
                return
            plan.check_time_left()

            def applied() -> bool:
                now = self._read(part)
                return _holds_rows_of(now, plan.tx) or _written_by(now, inventories, plan.tx)

            if self.conn.cas(statements, resolve=applied).applied:
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
            self.conn.write_plain(self._finalise_consumer(plan.tx, consumer))
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
            self.conn.cas(statements, resolve=lambda: not _unsettled(self._read(part), tx))
        raise errors.ConcurrentUpdate()

    def _finalise_consumer(self, tx: str, consumer: ConsumerPlan) -> list[tuple[str, tuple]]:
        """Give the consumer its new state and unlock it; returns the writes
        of the project index that follow."""
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
        return index

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
        for record in self.conn.execute("SELECT tx, state, deadline, plan FROM {ks}.claim_tx"):
            try:
                if record.state.startswith("move-"):  # a re-parenting (moves.py)
                    finished += moves.reap(self.conn, record)
                    continue
                plan = Plan.from_json(record.tx, record.plan)
                finished += self._finish_if_due(record.state, as_utc(record.deadline), plan)
            except errors.BerthError as exc:  # another reaper or a retry finishes it
                log.warning("reaping claim %s failed: %s", record.tx, exc)
        return finished


def check_consumer_generation(claim: ConsumerClaim, state: _ConsumerState) -> None:
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
_INSERT_HELD = (
    "INSERT INTO {ks}.tree (part, provider, kind, key, consumer, rc, used, state, tx, created_at) "
    f"VALUES (?, ?, 'a', ?, ?, ?, ?, '{HELD}', ?, ?)"
)
_DELETE_HELD = f"DELETE FROM {{ks}}.tree WHERE part = ? AND provider = ? AND kind = 'a' AND key = ? IF state = '{HELD}'"
_MARK_RELEASING = (
    f"UPDATE {{ks}}.tree SET state = '{RELEASING}', release_tx = ? "
    f"WHERE part = ? AND provider = ? AND kind = 'a' AND key = ? IF state = '{HELD}'"
)


def _acquire_statements(
    plan: Plan, partition: Partition, names: dict[int, str], final: bool = False
) -> list[tuple[str, tuple]]:
    """The batch that takes this partition's share of ``plan``, after
    checking that it fits; empty when the share is already taken. With
    ``final`` the consumers' old rows are deleted and the new ones written
    'held' (the batch is then the claim's commit point)."""
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
            if final:
                statements.append((_DELETE_HELD, (partition.part, a.provider, a.key)))
            else:
                statements.append((_MARK_RELEASING, (plan.tx, partition.part, a.provider, a.key)))
            changed.add(a.provider)
    insert = _INSERT_HELD if final else _INSERT_PENDING
    for consumer in plan.consumers:
        for rp, resources in consumer.allocations.items():
            if rp not in partition.providers:
                continue
            for rc, amount in resources.items():
                key = f"{consumer.uuid}:{rc}:{plan.tx}"
                statements.append((insert, (partition.part, rp, key, consumer.uuid, rc, amount, plan.tx, now)))
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
    """Whether ``tx``'s acquisition applied here: rows it wrote are there
    (or, for a claim that only gave rows back, rows it marked)."""
    return any(a.tx == tx and a.state in (PENDING, HELD) or a.release_tx == tx for a in partition.allocations)


def _unsettled(partition: Partition, tx: str) -> bool:
    """Whether rows of ``tx`` still wait to be made final or undone."""
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


# -- reshapes -------------------------------------------------------------------------


def _inventory_plan(inventory_changes: Sequence[InventoryChange], classes: catalog.ClassCatalog) -> InventoryPlan:
    wanted: dict[str, tuple[int, dict[int, Inventory]]] = {}
    used: set[str] = set()
    for change in inventory_changes:
        ids = classes.ids(change.inventories)
        wanted[change.provider_uuid] = (
            change.expected_generation,
            {ids[name]: inventory for name, inventory in change.inventories.items()},
        )
        used |= set(ids)
    return InventoryPlan(wanted, tuple(classes.names(used)))


def _written_by(partition: Partition, inventories: InventoryPlan, tx: str) -> bool:
    """Whether a reshape's batch applied: a provider it changed was last
    written by it (a reshape that moves no allocation leaves no row of
    ``tx``)."""
    return any(
        row.writer == tx for uuid, row in partition.providers.items() if uuid in inventories.wanted
    )


def _reshape_statements(
    plan: Plan, partition: Partition, names: dict[int, str], inventories: InventoryPlan
) -> list[tuple[str, tuple]]:
    """The one batch of a reshape: the claim's rows checked against the
    final inventories, the inventory rows, every changed provider bumped
    from the generation its caller named."""
    now = utcnow()
    final = dict(partition.inventories)
    for rp, (expected, wanted) in inventories.wanted.items():
        row = partition.providers.get(rp)
        if row is None:
            raise errors.ResourceProviderNotFound(rp)
        inventory_rows.check_generation(row, expected)
        final[rp] = {rc: trees.InventoryRow(rp, rc, inventory, now) for rc, inventory in wanted.items()}
    reshaped = dataclasses.replace(partition, inventories=final)
    _check_reshaped_inventories(plan, reshaped, inventories, names)
    statements = _acquire_statements(plan, reshaped, names, final=True)
    bumped = {params[4] for cql, params in statements if cql == trees.BUMP}
    for rp, (_, wanted) in sorted(inventories.wanted.items()):
        statements += inventory_rows.inventory_statements(
            partition.part, rp, partition.inventories.get(rp, {}), wanted, now
        )
        if rp not in bumped:
            statements.append(trees.bump(partition.providers[rp], now, plan.tx))
    return statements


def _check_reshaped_inventories(
    plan: Plan, reshaped: Partition, inventories: InventoryPlan, names: dict[int, str]
) -> None:
    """Each changed provider's final inventory admits the allocations moved
    onto it and holds everything that stays (InventoryInUse otherwise)."""
    moving = frozenset(c.uuid for c in plan.consumers)
    usage = reshaped.check_usage(exclude_consumers=moving)
    for rp in sorted(inventories.wanted):
        final = reshaped.inventories.get(rp, {})
        used: dict[int, int] = collections.Counter({rc: u for (p, rc), u in usage.items() if p == rp and u})
        for consumer in plan.consumers:
            for rc, amount in consumer.allocations.get(rp, {}).items():
                row = final.get(rc)
                name = names.get(rc, str(rc))
                if row is None:
                    raise errors.NoInventoryForAllocation(rp, name)
                if not row.inventory.admits(amount):
                    raise errors.UnitConstraintsViolated(rp, name)
                used[rc] += amount
        over = sorted(names.get(rc, str(rc)) for rc, u in used.items() if rc not in final or final[rc].inventory.capacity < u)
        if over:
            raise errors.InventoryInUse(rp, over)
