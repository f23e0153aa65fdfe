"""Consumers of one type per provider tree (count_consumers), on every
backend: what the scheduler's max_instances_per_host reads."""

from __future__ import annotations

from tests.support.builders import claim, inventory, new_uuid, provider

INSTANCE = "INSTANCE"


def _host(store, name: str, **totals: int):
    rp = provider(store, name)
    inventory(store, rp, **totals)
    return store.get_provider(rp.uuid)


def _hold(store, consumer_type: str | None, allocations: dict[str, dict[str, int]]) -> str:
    consumer = new_uuid()
    store.write_allocations([claim(consumer, allocations, consumer_type=consumer_type)])
    return consumer


def test_consumers_are_counted_once_per_tree_and_by_type(store):
    host_a = _host(store, "host-a", VCPU=16)
    numa = provider(store, "host-a-numa0", parent=host_a)
    inventory(store, numa, VCPU=16)
    host_b = _host(store, "host-b", VCPU=16)
    pool = _host(store, "shared-pool", DISK_GB=1000)

    _hold(store, INSTANCE, {host_a.uuid: {"VCPU": 1}, pool.uuid: {"DISK_GB": 10}})
    _hold(store, INSTANCE, {numa.uuid: {"VCPU": 1}})
    _hold(store, INSTANCE, {host_a.uuid: {"VCPU": 1}, numa.uuid: {"VCPU": 1}})  # once, not twice
    _hold(store, "MIGRATION", {host_a.uuid: {"VCPU": 1}})
    _hold(store, None, {host_b.uuid: {"VCPU": 1}})
    gone = _hold(store, INSTANCE, {host_b.uuid: {"VCPU": 1}})
    store.delete_consumer_allocations(gone)

    unknown = new_uuid()
    counts = store.count_consumers([host_a.uuid, host_b.uuid, pool.uuid, numa.uuid, unknown], INSTANCE)
    # The pool is a tree of its own: its consumer counts there, not on host A;
    # a child is no root, an unknown uuid holds nothing.
    assert dict(counts) == {host_a.uuid: 3, host_b.uuid: 0, pool.uuid: 1, numa.uuid: 0, unknown: 0}
    assert dict(store.count_consumers([host_a.uuid], "MIGRATION")) == {host_a.uuid: 1}
    assert dict(store.count_consumers([host_b.uuid], "unknown")) == {host_b.uuid: 1}
    assert dict(store.count_consumers([], INSTANCE)) == {}


def test_a_subtree_moved_into_a_tree_brings_its_consumers(store):
    host = _host(store, "host", VCPU=8)
    gpu = _host(store, "gpu", VGPU=4)
    _hold(store, INSTANCE, {host.uuid: {"VCPU": 1}})
    _hold(store, INSTANCE, {gpu.uuid: {"VGPU": 1}})
    assert dict(store.count_consumers([host.uuid, gpu.uuid], INSTANCE)) == {host.uuid: 1, gpu.uuid: 1}
    store.update_provider(gpu.uuid, "gpu", host.uuid, allow_reparent=True)
    assert dict(store.count_consumers([host.uuid, gpu.uuid], INSTANCE)) == {host.uuid: 2, gpu.uuid: 0}
