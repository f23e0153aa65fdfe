"""Reshapes and re-parentings are all or nothing under concurrent writes.

A reshape on one tree is one conditional batch (claims.py); a re-parenting
is one batch on one partition, or the lock/commit/apply protocol of
moves.py across partitions. Concurrent writes are forced between the steps
and run at the same time, and the tree is read at SERIAL throughout: it is
only ever seen before or after, never in between.
"""

from __future__ import annotations

import threading

import pytest

from berth.placement import errors
from berth.placement.model import Inventory, InventoryChange
from berth.placement.query import ProviderQuery
from berth.store.cassandra import claims as claims_module
from berth.store.cassandra import moves
from tests.support.builders import claim, inventory, new_uuid, provider

pytestmark = [pytest.mark.cassandra]


@pytest.fixture
def store(cassandra_store):
    return cassandra_store


@pytest.fixture
def tree(store):
    """A compute node (VCPU 8, DISK_GB 100) with a NUMA child, one
    partition; a consumer holds 2 VCPU on the compute node."""
    compute = provider(store, "compute")
    inventory(store, compute, VCPU=8, DISK_GB=100)
    numa = provider(store, "numa", parent=compute)
    consumer = new_uuid()
    store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 2}})])
    return compute.uuid, numa.uuid, consumer


def reshape_to_numa(store, compute: str, numa: str, consumer: str) -> None:
    """VCPU moves from the compute node to its NUMA child, with the consumer."""
    store.reshape(
        [
            InventoryChange(compute, store.get_provider(compute).generation, {"DISK_GB": Inventory("DISK_GB", 100)}),
            InventoryChange(numa, store.get_provider(numa).generation, {"VCPU": Inventory("VCPU", 8)}),
        ],
        [claim(consumer, {numa: {"VCPU": 2}}, generation=1)],
    )


def shape(store, compute: str, numa: str, consumer: str) -> str:
    """'before' or 'after' the reshape, from one SERIAL read of the tree;
    anything else is a half-applied reshape."""
    part = store.locator.get(compute)
    rows = store.conn.read_serial("SELECT provider, kind, rc, consumer FROM {ks}.tree WHERE part = ?", (part,))
    vcpu = 1  # the standard class id of VCPU
    inventory_on = {r.provider for r in rows if r.kind == "i" and r.rc == vcpu}
    consumer_on = {r.provider for r in rows if r.kind == "a" and r.consumer == consumer}
    if inventory_on == {compute} and consumer_on == {compute}:
        return "before"
    if inventory_on == {numa} and consumer_on == {numa}:
        return "after"
    return f"half: VCPU inventory on {inventory_on}, consumer on {consumer_on}"


def test_a_claim_between_a_reshapes_read_and_its_batch_leaves_it_unapplied(store, tree, monkeypatch):
    compute, numa, consumer = tree
    real = claims_module._reshape_statements
    concurrent = new_uuid()

    def statements_then_a_claim(*args):
        built = real(*args)
        if store.get_consumer_allocations(concurrent).consumer is None:
            store.write_allocations([claim(concurrent, {compute: {"DISK_GB": 10}})])
        return built

    monkeypatch.setattr(claims_module, "_reshape_statements", statements_then_a_claim)
    with pytest.raises(errors.ConcurrentUpdate):
        reshape_to_numa(store, compute, numa, consumer)
    monkeypatch.undo()
    assert shape(store, compute, numa, consumer) == "before"
    assert store.get_consumer_allocations(consumer).consumer.generation == 1
    assert dict(store.get_provider_usages(compute).usages) == {"VCPU": 2, "DISK_GB": 10}
    reshape_to_numa(store, compute, numa, consumer)  # with fresh generations
    assert shape(store, compute, numa, consumer) == "after"
    assert store.get_consumer_allocations(consumer).consumer.generation == 2


def test_a_reshape_leaving_usage_above_the_final_inventory_changes_nothing(store, tree):
    compute, numa, consumer = tree
    other = new_uuid()
    store.write_allocations([claim(other, {compute: {"VCPU": 1}})])  # stays behind
    with pytest.raises(errors.InventoryInUse):
        reshape_to_numa(store, compute, numa, consumer)
    assert shape(store, compute, numa, consumer) == "before"
    assert store.get_inventories(numa).inventories == {}


def test_a_reshape_across_trees_is_refused_and_changes_nothing(store, tree):
    compute, _, consumer = tree
    elsewhere = provider(store, "another-tree")
    with pytest.raises(claims_module.ReshapeAcrossTrees):
        store.reshape(
            [
                InventoryChange(compute, store.get_provider(compute).generation, {"DISK_GB": Inventory("DISK_GB", 100)}),
                InventoryChange(elsewhere.uuid, 0, {"VCPU": Inventory("VCPU", 8)}),
            ],
            [claim(consumer, {elsewhere.uuid: {"VCPU": 2}}, generation=1)],
        )
    assert store.get_inventories(elsewhere.uuid).inventories == {}
    assert set(store.get_inventories(compute).inventories) == {"VCPU", "DISK_GB"}
    assert store.get_consumer_allocations(consumer).consumer.generation == 1


def test_a_reshape_under_concurrent_claims_is_never_seen_half_applied(store, tree):
    compute, numa, consumer = tree
    done = threading.Event()
    seen: set[str] = set()

    def claimer():
        while not done.is_set():
            try:
                store.write_allocations([claim(new_uuid(), {compute: {"DISK_GB": 1}})])
            except (errors.ConcurrentUpdate, errors.CapacityExceeded):
                pass

    def observer():
        while not done.is_set():
            seen.add(shape(store, compute, numa, consumer))

    threads = [threading.Thread(target=claimer) for _ in range(2)] + [threading.Thread(target=observer)]
    for t in threads:
        t.start()
    attempts = 0
    try:
        while True:
            attempts += 1
            try:
                reshape_to_numa(store, compute, numa, consumer)
                break
            except errors.ConcurrentUpdate:
                assert attempts < 100
    finally:
        done.set()
        for t in threads:
            t.join()
    seen.add(shape(store, compute, numa, consumer))
    assert seen <= {"before", "after"}, seen
    assert "after" in seen


# -- re-parenting --------------------------------------------------------------------


def structure(store, uuid: str) -> tuple[str | None, str]:
    p = store.get_provider(uuid)
    return p.parent_provider_uuid, p.root_provider_uuid


def moving_rows(store) -> list:
    return [r for r in store.conn.execute("SELECT provider, moving FROM {ks}.tree") if r.moving]


def test_giving_a_root_a_parent_moves_its_whole_subtree(store):
    a = provider(store, "a")
    a1 = provider(store, "a1", parent=a)
    b = provider(store, "b")
    store.update_provider(a.uuid, "a", b.uuid, allow_reparent=True)
    assert structure(store, a.uuid) == (b.uuid, b.uuid)
    assert structure(store, a1.uuid) == (a.uuid, b.uuid)
    assert {p.uuid for p in store.list_providers(ProviderQuery(in_tree=b.uuid))} == {a.uuid, a1.uuid, b.uuid}
    assert moving_rows(store) == []
    assert list(store.conn.execute("SELECT tx FROM {ks}.claim_tx")) == []
    # And back to a root of its own: a move between partitions again.
    store.update_provider(a.uuid, "a-renamed", None, allow_reparent=True)
    assert structure(store, a.uuid) == (None, a.uuid)
    assert structure(store, a1.uuid) == (a.uuid, a.uuid)
    assert store.get_provider(a.uuid).name == "a-renamed"


def test_a_move_that_finds_its_second_partition_changed_is_undone(store, monkeypatch):
    a = provider(store, "a")
    b = provider(store, "b")
    real = moves._lock
    locked: list[str] = []

    def lock_after_a_concurrent_change(conn, move, part):
        if locked:  # the first partition is locked; change the second
            provider(store, "late-child", parent=store.get_provider(part))
        real(conn, move, part)
        locked.append(part)

    monkeypatch.setattr(moves, "_lock", lock_after_a_concurrent_change)
    with pytest.raises(errors.ConcurrentUpdate):
        store.update_provider(a.uuid, "a", b.uuid, allow_reparent=True)
    monkeypatch.undo()
    assert structure(store, a.uuid) == (None, a.uuid)
    assert a.uuid not in {c for c in store.conn.execute(
        "SELECT children FROM {ks}.tree WHERE part = ? AND provider = ? AND kind = 'p' AND key = ''",
        (b.uuid, b.uuid))[0].children or ()}
    assert moving_rows(store) == []
    store.update_provider(a.uuid, "a", b.uuid, allow_reparent=True)
    assert structure(store, a.uuid) == (b.uuid, b.uuid)


def _locked_and_committed(store, mover, new_parent, commit: bool) -> moves.Move:
    """A move run up to its commit (or not), as by a mover that then died."""
    from berth.store.cassandra import providers

    row = providers.get_row(store.conn, store.locator, mover.uuid, serial=True)
    target = providers.get_row(store.conn, store.locator, new_parent.uuid, serial=True)
    move = moves.plan_move(row, providers.subtree(store.conn, store.locator, row), None, target)
    moves._record(store.conn, move)
    for part in move.parts:
        moves._lock(store.conn, move, part)
    if commit:
        moves._commit(store.conn, move)
    return move


def test_a_committed_move_whose_mover_died_is_rolled_forward(store):
    a, b = provider(store, "a"), provider(store, "b")
    _locked_and_committed(store, a, b, commit=True)
    with pytest.raises(errors.ConcurrentUpdate):  # locked meanwhile
        provider(store, "child", parent=a)
    assert store.reap() == 1
    assert structure(store, a.uuid) == (b.uuid, b.uuid)
    assert moving_rows(store) == []


def test_an_open_move_whose_mover_died_is_rolled_back_after_its_deadline(store):
    a, b = provider(store, "a"), provider(store, "b")
    move = _locked_and_committed(store, a, b, commit=False)
    assert store.reap() == 0  # not past its deadline
    store.conn.execute("UPDATE {ks}.claim_tx SET deadline = '2000-01-01' WHERE tx = ?", (move.tx,))
    assert store.reap() == 1
    assert structure(store, a.uuid) == (None, a.uuid)
    assert moving_rows(store) == []
    with pytest.raises(errors.ConcurrentUpdate):  # the mover, alive after all, commits too late
        moves._commit(store.conn, move)
    assert structure(store, a.uuid) == (None, a.uuid)


def test_two_moves_that_would_make_a_loop_never_both_apply(store):
    for round_ in range(6):
        a, b = provider(store, f"a{round_}"), provider(store, f"b{round_}")
        start = threading.Barrier(2)
        results: dict[str, Exception | None] = {}

        def move(name, mover, parent):
            start.wait()
            try:
                store.update_provider(mover.uuid, mover.name, parent.uuid, allow_reparent=True)
                results[name] = None
            except errors.BerthError as exc:
                results[name] = exc

        threads = [threading.Thread(target=move, args=("a under b", a, b)),
                   threading.Thread(target=move, args=("b under a", b, a))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert list(results.values()).count(None) <= 1, results
        a_parent, a_root = structure(store, a.uuid)
        b_parent, b_root = structure(store, b.uuid)
        assert not (a_parent == b.uuid and b_parent == a.uuid)
        if results["a under b"] is None:
            assert (a_parent, a_root, b_parent, b_root) == (b.uuid, b.uuid, None, b.uuid)
        if results["b under a"] is None:
            assert (b_parent, b_root, a_parent, a_root) == (a.uuid, a.uuid, None, a.uuid)
        assert moving_rows(store) == []
