"""Inventories, claims and usages on every backend: the capacity rules."""

from __future__ import annotations

import pytest

from berth.placement import errors
from berth.placement.model import Inventory, InventoryChange
from tests.support.builders import claim, inventory, new_uuid, provider


@pytest.fixture
def compute(store):
    rp = provider(store, "compute")
    inventory(
        store,
        rp,
        VCPU=Inventory("VCPU", total=8, reserved=2, allocation_ratio=2.0, max_unit=4),
        DISK_GB=Inventory("DISK_GB", total=100, min_unit=10, step_size=10, max_unit=50),
    )
    return store.get_provider(rp.uuid)


def test_inventory_replace_is_compare_and_set(store, compute):
    current = store.get_inventories(compute.uuid)
    assert current.provider.generation == 1
    assert current.inventories["VCPU"].capacity == 12
    with pytest.raises(errors.ConcurrentUpdate):
        store.replace_inventories(compute.uuid, 0, {})
    with pytest.raises(errors.ResourceClassNotFound):
        store.replace_inventories(compute.uuid, 1, {"CUSTOM_NOPE": Inventory("CUSTOM_NOPE", 1)})
    replaced = store.replace_inventories(compute.uuid, 1, {"MEMORY_MB": Inventory("MEMORY_MB", 1024)})
    assert set(replaced.inventories) == {"MEMORY_MB"}
    assert replaced.provider.generation == 2


def test_claim_within_capacity_and_unit_rules(store, compute):
    consumer = new_uuid()
    store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 4, "DISK_GB": 20}}, generation=None)])
    held = store.get_consumer_allocations(consumer)
    assert held.consumer.generation == 1
    assert held.consumer.consumer_type == "unknown"
    assert dict(held.allocations[0].resources) == {"VCPU": 4, "DISK_GB": 20}
    assert store.get_provider(compute.uuid).generation == 2
    assert store.get_provider_usages(compute.uuid).usages == {"VCPU": 4, "DISK_GB": 20}


@pytest.mark.parametrize(
    "resources, error",
    [
        ({"VCPU": 5}, errors.UnitConstraintsViolated),  # above max_unit
        ({"DISK_GB": 15}, errors.UnitConstraintsViolated),  # off step_size
        ({"DISK_GB": 5}, errors.UnitConstraintsViolated),  # below min_unit
        ({"MEMORY_MB": 1}, errors.NoInventoryForAllocation),
        ({"CUSTOM_NOPE": 1}, errors.ResourceClassNotFound),
    ],
)
def test_claim_refusals(store, compute, resources, error):
    with pytest.raises(error):
        store.write_allocations([claim(new_uuid(), {compute.uuid: resources})])
    assert store.get_provider_usages(compute.uuid).usages == {"VCPU": 0, "DISK_GB": 0}


def test_capacity_is_total_minus_reserved_times_ratio(store, compute):
    for _ in range(3):
        store.write_allocations([claim(new_uuid(), {compute.uuid: {"VCPU": 4}})])
    with pytest.raises(errors.CapacityExceeded):
        store.write_allocations([claim(new_uuid(), {compute.uuid: {"VCPU": 1}})])
    assert store.get_provider_usages(compute.uuid).usages["VCPU"] == 12


def test_claim_over_several_consumers_is_all_or_nothing(store, compute):
    first, second = new_uuid(), new_uuid()
    with pytest.raises(errors.CapacityExceeded):
        store.write_allocations(
            [
                claim(first, {compute.uuid: {"DISK_GB": 50}}),
                claim(second, {compute.uuid: {"DISK_GB": 50}}),
                claim(new_uuid(), {compute.uuid: {"DISK_GB": 10}}),
            ]
        )
    assert store.get_consumer_allocations(first).consumer is None
    assert store.get_provider_usages(compute.uuid).usages["DISK_GB"] == 0


def test_unknown_provider_in_claim(store, compute):
    with pytest.raises(errors.ResourceProviderNotFound):
        store.write_allocations([claim(new_uuid(), {new_uuid(): {"VCPU": 1}})])


def test_consumer_generation_is_checked(store, compute):
    consumer = new_uuid()
    with pytest.raises(errors.ConcurrentUpdate):
        store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 1}}, generation=3)])
    store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 1}}, generation=None)])
    with pytest.raises(errors.ConcurrentUpdate):
        store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 2}}, generation=None)])
    store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 2}}, generation=1)])
    assert store.get_consumer_allocations(consumer).consumer.generation == 2


def test_new_consumers_of_a_refused_claim_are_not_kept(store, compute):
    # New consumers are inserted before the claim's checks: a refusal after
    # that must take them back, and an existing one among them refuses all.
    existing, fresh = new_uuid(), new_uuid()
    store.write_allocations([claim(existing, {compute.uuid: {"VCPU": 1}}, generation=None)])
    with pytest.raises(errors.ConcurrentUpdate):
        store.write_allocations([
            claim(fresh, {compute.uuid: {"VCPU": 1}}, generation=None),
            claim(existing, {compute.uuid: {"VCPU": 1}}, generation=None),
        ])
    with pytest.raises(errors.CapacityExceeded):
        store.write_allocations([claim(fresh, {compute.uuid: {"VCPU": 4}}, generation=None) for fresh in (
            fresh, new_uuid(), new_uuid(),
        )])
    assert store.get_consumer_allocations(fresh).consumer is None
    assert store.get_consumer_allocations(existing).consumer.generation == 1
    assert store.get_provider_usages(compute.uuid).usages["VCPU"] == 1


def test_replacing_allocations_frees_the_old_ones(store, compute):
    consumer = new_uuid()
    store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 4}})])
    store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 4}})])
    assert store.get_provider_usages(compute.uuid).usages["VCPU"] == 4


def test_a_claim_is_judged_without_the_allocations_it_replaces(store, compute):
    first, second = new_uuid(), new_uuid()
    store.write_allocations([
        claim(first, {compute.uuid: {"DISK_GB": 50}}), claim(second, {compute.uuid: {"DISK_GB": 50}}),
    ])  # the provider's disk is full
    # 50 + 50 fits only when first's own 50 are not counted against it.
    store.write_allocations([claim(first, {compute.uuid: {"DISK_GB": 50, "VCPU": 1}}, generation=1)])
    with pytest.raises(errors.CapacityExceeded):
        store.write_allocations([claim(new_uuid(), {compute.uuid: {"DISK_GB": 10}})])
    assert store.get_provider_usages(compute.uuid).usages == {"VCPU": 1, "DISK_GB": 100}


def test_move_between_consumers_like_a_migration(store, compute):
    target = provider(store, "target")
    inventory(store, target, VCPU=4)
    instance, migration = new_uuid(), new_uuid()
    store.write_allocations([claim(instance, {compute.uuid: {"VCPU": 4}})])
    store.write_allocations(
        [
            claim(migration, {compute.uuid: {"VCPU": 4}}, generation=None),
            claim(instance, {target.uuid: {"VCPU": 4}}, generation=1),
        ]
    )
    assert store.get_provider_usages(compute.uuid).usages["VCPU"] == 4
    assert store.get_provider_usages(target.uuid).usages["VCPU"] == 4
    store.write_allocations([claim(migration, {}, generation=1)])
    assert store.get_consumer_allocations(migration).consumer is None
    assert store.get_provider_usages(compute.uuid).usages["VCPU"] == 0


def test_delete_consumer_allocations(store, compute):
    consumer = new_uuid()
    store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 2}})])
    store.delete_consumer_allocations(consumer)
    assert store.get_consumer_allocations(consumer).allocations == ()
    with pytest.raises(errors.NotFound):
        store.delete_consumer_allocations(consumer)


def test_inventory_in_use_cannot_shrink_below_usage_or_go(store, compute):
    store.write_allocations([claim(new_uuid(), {compute.uuid: {"VCPU": 4, "DISK_GB": 50}})])
    generation = store.get_provider(compute.uuid).generation
    with pytest.raises(errors.InventoryInUse):
        store.replace_inventories(compute.uuid, generation, {"VCPU": Inventory("VCPU", 8)})
    with pytest.raises(errors.InventoryInUse):
        store.replace_inventories(
            compute.uuid, generation, {"VCPU": Inventory("VCPU", 3), "DISK_GB": Inventory("DISK_GB", 100)}
        )
    grown = store.replace_inventories(
        compute.uuid, generation, {"VCPU": Inventory("VCPU", 4), "DISK_GB": Inventory("DISK_GB", 50)}
    )
    assert grown.provider.generation == generation + 1


def test_provider_with_allocations_cannot_be_deleted(store, compute):
    store.write_allocations([claim(new_uuid(), {compute.uuid: {"VCPU": 1}})])
    with pytest.raises(errors.ProviderInUse):
        store.delete_provider(compute.uuid)


def test_provider_allocations_and_project_usages(store, compute):
    first, second = new_uuid(), new_uuid()
    store.write_allocations([claim(first, {compute.uuid: {"VCPU": 1}}, consumer_type="INSTANCE")])
    store.write_allocations([claim(second, {compute.uuid: {"VCPU": 2, "DISK_GB": 10}}, user="user-b")])
    held = store.get_provider_allocations(compute.uuid)
    assert {c.consumer_uuid: dict(c.resources) for c in held.consumers} == {
        first: {"VCPU": 1},
        second: {"VCPU": 2, "DISK_GB": 10},
    }
    by_type = {u.consumer_type: u for u in store.get_project_usages("project-a")}
    assert by_type["INSTANCE"].usages == {"VCPU": 1}
    assert by_type["unknown"].consumer_count == 1
    assert by_type["unknown"].usages == {"VCPU": 2, "DISK_GB": 10}
    assert [u.usages for u in store.get_project_usages("project-a", user_id="user-b")] == [
        {"VCPU": 2, "DISK_GB": 10}
    ]
    assert store.get_project_usages("project-a", consumer_type="INSTANCE")[0].consumer_count == 1
    assert store.get_project_usages("nobody") == []


def test_reshape_moves_inventory_and_allocations_to_a_child(store, compute):
    consumer = new_uuid()
    store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 4}})])
    numa = provider(store, "numa", parent=compute)
    generation = store.get_provider(compute.uuid).generation
    store.reshape(
        [
            InventoryChange(compute.uuid, generation, {"DISK_GB": store.get_inventories(compute.uuid).inventories["DISK_GB"]}),
            InventoryChange(numa.uuid, 0, {"VCPU": Inventory("VCPU", 8)}),
        ],
        [claim(consumer, {numa.uuid: {"VCPU": 4}}, generation=1)],
    )
    assert "VCPU" not in store.get_inventories(compute.uuid).inventories
    assert store.get_provider_usages(numa.uuid).usages == {"VCPU": 4}


def test_failed_reshape_changes_nothing(store, compute):
    consumer = new_uuid()
    store.write_allocations([claim(consumer, {compute.uuid: {"VCPU": 4}})])
    generation = store.get_provider(compute.uuid).generation
    with pytest.raises(errors.InventoryInUse):
        store.reshape([InventoryChange(compute.uuid, generation, {})], [])
    assert store.get_provider(compute.uuid).generation == generation
    assert store.get_provider_usages(compute.uuid).usages["VCPU"] == 4


def test_resource_classes_and_traits_catalog(store):
    assert store.get_resource_class("VCPU").name == "VCPU"
    store.create_resource_class("CUSTOM_GPU")
    with pytest.raises(errors.ResourceClassExists):
        store.create_resource_class("CUSTOM_GPU")
    with pytest.raises(errors.CannotChangeStandard):
        store.delete_resource_class("VCPU")
    rp = provider(store)
    inventory(store, rp, CUSTOM_GPU=2)
    with pytest.raises(errors.ResourceClassInUse):
        store.delete_resource_class("CUSTOM_GPU")
    trait, created = store.ensure_trait("CUSTOM_X")
    assert created and trait.name == "CUSTOM_X"
    assert store.ensure_trait("CUSTOM_X")[1] is False
    assert [t.name for t in store.list_traits(prefix="CUSTOM_")] == ["CUSTOM_X"]
    assert [t.name for t in store.list_traits(prefix="CUSTOM_", associated=True)] == []
    with pytest.raises(errors.CannotChangeStandard):
        store.delete_trait("HW_CPU_X86_AVX2")
    store.delete_trait("CUSTOM_X")
    with pytest.raises(errors.TraitNotFound):
        store.get_trait("CUSTOM_X")


def test_one_write_creates_more_consumers_than_one_statement_takes(store):
    """A claim of 1,200 new consumers (statements take at most 500 each):
    every consumer is created once, with its own allocations."""
    hosts = [provider(store, f"compute-{n}") for n in range(3)]
    for host in hosts:
        inventory(store, host, VCPU=1000)
    instances = [new_uuid() for _ in range(1200)]
    store.write_allocations([
        claim(instance, {hosts[number % 3].uuid: {"VCPU": 1}}, generation=None, project=f"project-{number % 7}")
        for number, instance in enumerate(instances)
    ])
    for number in (0, 499, 500, 501, 999, 1000, 1199):
        held = store.get_consumer_allocations(instances[number])
        assert held.consumer is not None and held.consumer.project_id == f"project-{number % 7}"
        assert [(a.provider.uuid, dict(a.resources)) for a in held.allocations] == [
            (hosts[number % 3].uuid, {"VCPU": 1}),
        ]
    assert [store.get_provider_usages(h.uuid).usages["VCPU"] for h in hosts] == [400, 400, 400]
