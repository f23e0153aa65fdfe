"""The Cassandra claim protocol itself: partitions acquired in order and
undone on failure, the reaper, unknown outcomes read back, and the capacity
invariant under concurrent claimers (one node, one keyspace per session)."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from cassandra import ConsistencyLevel, WriteTimeout
from cassandra.policies import WriteType

from berth.placement import errors
from berth.placement.model import Inventory
from berth.store.cassandra.claims import ClaimWriter
from tests.support.builders import claim, inventory, new_uuid, provider

pytestmark = [pytest.mark.cassandra]


@pytest.fixture
def store(cassandra_store):
    return cassandra_store


@pytest.fixture
def compute_and_pool(store):
    """A compute node and a sharing storage pool: two trees, two partitions."""
    compute = provider(store, "compute")
    inventory(store, compute, VCPU=4)
    pool = provider(store, "pool")
    inventory(store, pool, DISK_GB=Inventory("DISK_GB", total=100))
    return store.get_provider(compute.uuid), store.get_provider(pool.uuid)


def usages(store, *providers):
    return [dict(store.get_provider_usages(p.uuid).usages) for p in providers]


def test_claim_across_partitions_is_all_or_nothing(store, compute_and_pool):
    compute, pool = compute_and_pool
    first = new_uuid()
    store.write_allocations([claim(first, {compute.uuid: {"VCPU": 2}, pool.uuid: {"DISK_GB": 60}})])
    assert usages(store, compute, pool) == [{"VCPU": 2}, {"DISK_GB": 60}]
    # The compute node has room, the pool does not: whichever partition
    # comes first in the fixed order, nothing stays taken.
    second = new_uuid()
    with pytest.raises(errors.CapacityExceeded):
        store.write_allocations([claim(second, {compute.uuid: {"VCPU": 2}, pool.uuid: {"DISK_GB": 50}})])
    assert usages(store, compute, pool) == [{"VCPU": 2}, {"DISK_GB": 60}]
    assert store.get_consumer_allocations(second).consumer is None
    assert list(store.conn.execute("SELECT tx FROM {ks}.claim_tx")) == []
    # The failed consumer can claim again; the first one moves fully.
    store.write_allocations([claim(second, {compute.uuid: {"VCPU": 2}, pool.uuid: {"DISK_GB": 40}}, generation=None)])
    assert usages(store, compute, pool) == [{"VCPU": 4}, {"DISK_GB": 100}]


def test_a_move_frees_the_old_partition_only_once_committed(store, compute_and_pool):
    compute, pool = compute_and_pool
    consumer = new_uuid()
    store.write_allocations([claim(consumer, {pool.uuid: {"DISK_GB": 100}})])
    other = provider(store, "pool-2")
    inventory(store, other, DISK_GB=100)
    store.write_allocations([claim(consumer, {other.uuid: {"DISK_GB": 100}}, generation=1)])
    assert usages(store, pool, other) == [{"DISK_GB": 0}, {"DISK_GB": 100}]
    held = store.get_consumer_allocations(consumer)
    assert held.consumer.generation == 2
    assert [a.provider.uuid for a in held.allocations] == [other.uuid]


def _start_claim(store, claims):
    """Run the protocol up to (not including) the commit: a claimer that dies."""
    writer: ClaimWriter = store.claims
    from berth.store.cassandra import catalog

    classes = catalog.read_classes(store.conn)
    ids = classes.ids({rc for c in claims for a in c.allocations.values() for rc in a})
    states = {c.consumer_uuid: writer._settled_consumer(c.consumer_uuid) for c in claims}
    plan = writer._plan(claims, states, ids)
    writer._record(plan)
    writer._lock_consumers(plan, states)
    for part in plan.parts:
        writer._acquire(plan, part, classes.by_id)
    return plan


def _start_single(store, claims, batch: bool):
    """A one-partition claim whose claimer dies after locking the consumers,
    before (``batch=False``) or after its batch on the tree."""
    writer: ClaimWriter = store.claims
    classes = writer._classes()
    ids = classes.ids({rc for c in claims for a in c.allocations.values() for rc in a})
    states = {c.consumer_uuid: writer._settled_consumer(c.consumer_uuid) for c in claims}
    plan = writer._plan(claims, states, ids)
    assert len(plan.parts) == 1
    writer._record(plan, state="single")
    writer._lock_consumers(plan, states)
    if batch:
        writer._acquire(plan, plan.parts[0], classes.by_id, final=True)
    return plan


def test_a_one_partition_claim_that_died_before_its_batch_is_fenced(store, compute_and_pool):
    compute, _ = compute_and_pool
    consumer = new_uuid()
    store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 1}})])
    plan = _start_single(store, [claim(consumer, {compute.uuid: {"VCPU": 3}}, generation=1)], batch=False)
    with pytest.raises(errors.ConcurrentUpdate):  # the consumer is held meanwhile
        store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 2}}, generation=1)])
    _expire(store, plan)
    generation = store.get_provider(compute.uuid).generation
    assert store.reap() == 1
    assert store.get_provider(compute.uuid).generation == generation + 1  # the fence
    assert usages(store, compute) == [{"VCPU": 1}]
    assert store.get_consumer_allocations(consumer).consumer.generation == 1
    # The claimer, alive after all, sends no batch past its deadline.
    late = dataclasses.replace(plan, deadline=time.time())
    with pytest.raises(errors.ConcurrentUpdate):
        store.claims._acquire(late, late.parts[0], store.claims._classes().by_id, final=True)
    assert usages(store, compute) == [{"VCPU": 1}]


def test_a_one_partition_claim_that_died_after_its_batch_is_rolled_forward(store, compute_and_pool):
    compute, _ = compute_and_pool
    consumer = new_uuid()
    store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 1}})])
    plan = _start_single(store, [claim(consumer, {compute.uuid: {"VCPU": 3}}, generation=1)], batch=True)
    assert usages(store, compute) == [{"VCPU": 3}]  # the batch is the commit
    _expire(store, plan)
    assert store.reap() == 1
    held = store.get_consumer_allocations(consumer)
    assert held.consumer.generation == 2
    assert [dict(a.resources) for a in held.allocations] == [{"VCPU": 3}]


def _expire(store, plan):
    store.conn.execute("UPDATE {ks}.claim_tx SET deadline = '2000-01-01' WHERE tx = ?", (plan.tx,))


def test_reservations_of_a_dead_claimer_count_until_reaped(store, compute_and_pool):
    compute, pool = compute_and_pool
    dead = new_uuid()
    plan = _start_claim(store, [claim(dead, {compute.uuid: {"VCPU": 3}, pool.uuid: {"DISK_GB": 10}})])
    # Pending rows hold capacity: nobody can take it meanwhile.
    with pytest.raises(errors.CapacityExceeded):
        store.write_allocations([claim(new_uuid(), {compute.uuid: {"VCPU": 2}})])
    assert store.reap() == 0  # not past its deadline yet
    _expire(store, plan)
    assert store.reap() == 1
    assert usages(store, compute, pool) == [{"VCPU": 0}, {"DISK_GB": 0}]
    assert store.get_consumer_allocations(dead).consumer is None
    store.write_allocations([claim(dead, {compute.uuid: {"VCPU": 4}}, generation=None)])
    assert usages(store, compute) == [{"VCPU": 4}]


def test_a_claim_committed_before_its_claimer_died_is_rolled_forward(store, compute_and_pool):
    compute, pool = compute_and_pool
    consumer = new_uuid()
    store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 1}})])
    plan = _start_claim(store, [claim(consumer, {compute.uuid: {"VCPU": 2}, pool.uuid: {"DISK_GB": 10}}, generation=1)])
    store.claims._commit(plan)  # ...and the claimer dies here
    assert usages(store, compute, pool) == [{"VCPU": 2}, {"DISK_GB": 10}]
    # A committed transaction is finished whatever its deadline.
    assert store.reap() == 1
    held = store.get_consumer_allocations(consumer)
    assert held.consumer.generation == 2
    assert {a.provider.uuid: dict(a.resources) for a in held.allocations} == {
        compute.uuid: {"VCPU": 2},
        pool.uuid: {"DISK_GB": 10},
    }
    assert usages(store, compute, pool) == [{"VCPU": 2}, {"DISK_GB": 10}]


def test_a_consumer_held_by_an_abandoned_claim_is_freed_by_its_next_writer(store, compute_and_pool):
    compute, _ = compute_and_pool
    consumer = new_uuid()
    plan = _start_claim(store, [claim(consumer, {compute.uuid: {"VCPU": 1}})])
    with pytest.raises(errors.ConcurrentUpdate):  # the claim is still in flight
        store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 2}})])
    _expire(store, plan)
    store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 2}}, generation=None)])
    assert usages(store, compute) == [{"VCPU": 2}]


class _TimeoutOnce:
    """Wraps session.execute: the ``nth`` conditional write is (or is not)
    applied, and then the client is told its outcome is unknown."""

    def __init__(self, real, nth: int, apply: bool):
        self.real, self.left, self.apply = real, nth, apply

    def __call__(self, request, *args, **kwargs):
        prepared = getattr(request, "prepared_statement", request)
        text = getattr(prepared, "query_string", "") or ""
        if " IF " in text or type(request).__name__ == "BatchStatement":
            self.left -= 1
            if self.left == -1:
                if self.apply:
                    self.real(request, *args, **kwargs)
                raise WriteTimeout("simulated", consistency=ConsistencyLevel.SERIAL, required_responses=1,
                                   received_responses=0, write_type=WriteType.CAS)
        return self.real(request, *args, **kwargs)


# A claim on two partitions makes eight conditional writes: lock, two
# acquisitions, commit, two finalisations, the consumer, the record's
# deletion; on one partition three: lock, the batch, the consumer.
@pytest.mark.parametrize(
    "partitions, nth", [(2, n) for n in range(8)] + [(1, n) for n in range(3)]
)
@pytest.mark.parametrize("applied", [True, False], ids=["applied", "lost"])
def test_unknown_outcomes_are_read_back_not_guessed(store, compute_and_pool, monkeypatch, applied, partitions, nth):
    compute, pool = compute_and_pool
    consumer = new_uuid()
    wanted = {compute.uuid: {"VCPU": 3}, pool.uuid: {"DISK_GB": 30}}
    if partitions == 1:
        wanted.pop(pool.uuid)
    session = store.conn.session
    monkeypatch.setattr(session, "execute", _TimeoutOnce(session.execute, nth, applied))
    try:
        store.write_allocations([claim(consumer, wanted)])
        succeeded = True
    except errors.ConcurrentUpdate:
        # A lock or commit read back as lost fails the claim cleanly.
        succeeded = False
    assert session.execute.left < 0, "the timeout was not injected"
    monkeypatch.undo()
    if succeeded:
        assert usages(store, compute, pool) == [{"VCPU": 3}, {"DISK_GB": 30 if partitions == 2 else 0}]
        assert store.get_consumer_allocations(consumer).consumer.generation == 1
    else:
        assert not applied
        assert usages(store, compute, pool) == [{"VCPU": 0}, {"DISK_GB": 0}]
        assert store.get_consumer_allocations(consumer).consumer is None
    assert list(store.conn.execute("SELECT tx FROM {ks}.claim_tx")) == []


def test_capacity_holds_at_every_instant_under_concurrent_claimers(store):
    rp = provider(store, "contended")
    inventory(store, rp, VCPU=Inventory("VCPU", total=10, allocation_ratio=2.0))
    capacity, clients = 20, 6
    acknowledged: list[str] = []
    conflicts: list[str] = []
    seen_over: list[int] = []
    done = threading.Event()

    def claimer():
        # Claim until the provider is full; a conflict is retried, as a
        # Placement client does.
        while True:
            consumer = new_uuid()
            try:
                store.write_allocations([claim(consumer, {rp.uuid: {"VCPU": 1}})])
            except errors.ConcurrentUpdate:
                conflicts.append(consumer)
                continue
            except errors.CapacityExceeded:
                return
            acknowledged.append(consumer)

    def observer():
        while not done.is_set():
            partition = store.conn.read_serial("SELECT used, state FROM {ks}.tree WHERE part = ?", (rp.uuid,))
            counted = sum(r.used for r in partition if r.used is not None and r.state != "releasing")
            if counted > capacity:
                seen_over.append(counted)

    threads = [threading.Thread(target=claimer) for _ in range(clients)]
    watch = threading.Thread(target=observer)
    watch.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watch.join()
    assert seen_over == []
    assert len(acknowledged) == capacity  # every client ran until refused: exactly 20 won
    assert store.get_provider_usages(rp.uuid).usages == {"VCPU": capacity}
    for consumer in acknowledged:
        assert store.get_consumer_allocations(consumer).consumer.generation == 1


def test_the_change_feed_names_changed_and_removed_providers(store):
    first = provider(store, "first")
    start = store.read_provider_changes(None)
    assert start.complete and first.uuid in {p.uuid for p in start.providers}
    second = provider(store, "second")
    inventory(store, first, VCPU=2)
    store.write_allocations([claim(new_uuid(), {first.uuid: {"VCPU": 1}})])
    changed = store.read_provider_changes(start.cursor)
    assert not changed.complete
    by_uuid = {p.uuid: p for p in changed.providers}
    assert set(by_uuid) == {first.uuid, second.uuid}
    assert dict(by_uuid[first.uuid].usages) == {"VCPU": 1}
    store.delete_provider(second.uuid)
    later = store.read_provider_changes(changed.cursor)
    assert second.uuid in later.removed
    store.create_resource_class("CUSTOM_FEED")
    store.rename_resource_class("CUSTOM_FEED", "CUSTOM_FED")
    assert store.read_provider_changes(later.cursor).complete

