"""Providers, trees, traits and aggregates on every backend."""

from __future__ import annotations

import pytest

from berth.placement import errors
from berth.placement.query import AggregateRequirement, ProviderQuery, TraitRequirement
from tests.support.builders import inventory, new_uuid, provider


def test_create_and_get_provider(store):
    uuid = new_uuid()
    created = store.create_provider(uuid, "compute-1")
    assert created.generation == 0
    assert created.root_provider_uuid == uuid
    assert created.parent_provider_uuid is None
    assert store.get_provider(uuid) == created


def test_duplicate_uuid_and_name_are_refused(store):
    rp = provider(store, "compute-1")
    with pytest.raises(errors.ProviderExists):
        store.create_provider(rp.uuid, "other")
    with pytest.raises(errors.DuplicateProviderName):
        store.create_provider(new_uuid(), "compute-1")


def test_unknown_provider_is_not_found(store):
    with pytest.raises(errors.ResourceProviderNotFound):
        store.get_provider(new_uuid())


def test_child_takes_root_of_parent(store):
    root = provider(store)
    child = provider(store, parent=root)
    grandchild = provider(store, parent=child)
    assert grandchild.root_provider_uuid == root.uuid
    assert grandchild.parent_provider_uuid == child.uuid


def test_parent_must_exist(store):
    with pytest.raises(errors.InvalidParent):
        store.create_provider(new_uuid(), "orphan", new_uuid())


def test_reparenting_needs_permission_and_moves_the_subtree(store):
    old_root, new_root = provider(store), provider(store)
    child = provider(store, parent=old_root)
    grandchild = provider(store, parent=child)
    with pytest.raises(errors.InvalidParent):
        store.update_provider(child.uuid, child.name, new_root.uuid, allow_reparent=False)
    moved = store.update_provider(child.uuid, child.name, new_root.uuid, allow_reparent=True)
    assert moved.root_provider_uuid == new_root.uuid
    assert store.get_provider(grandchild.uuid).root_provider_uuid == new_root.uuid


def test_unparenting_makes_a_new_root(store):
    root = provider(store)
    child = provider(store, parent=root)
    grandchild = provider(store, parent=child)
    store.update_provider(child.uuid, child.name, None, allow_reparent=True)
    assert store.get_provider(child.uuid).root_provider_uuid == child.uuid
    assert store.get_provider(grandchild.uuid).root_provider_uuid == child.uuid


def test_root_may_get_a_parent_without_reparent_permission(store):
    root, other = provider(store), provider(store)
    child = provider(store, parent=other)
    updated = store.update_provider(other.uuid, other.name, root.uuid, allow_reparent=False)
    assert updated.root_provider_uuid == root.uuid
    assert store.get_provider(child.uuid).root_provider_uuid == root.uuid


def test_loops_are_refused(store):
    root = provider(store)
    child = provider(store, parent=root)
    with pytest.raises(errors.InvalidParent):
        store.update_provider(root.uuid, root.name, child.uuid, allow_reparent=True)


def test_delete_refused_for_parent_and_allowed_for_leaf(store):
    root = provider(store)
    child = provider(store, parent=root)
    with pytest.raises(errors.CannotDeleteParent):
        store.delete_provider(root.uuid)
    store.delete_provider(child.uuid)
    store.delete_provider(root.uuid)
    with pytest.raises(errors.ResourceProviderNotFound):
        store.get_provider(root.uuid)


def test_traits_are_compare_and_set(store):
    rp = provider(store)
    store.ensure_trait("CUSTOM_FAST")
    result = store.set_provider_traits(rp.uuid, 0, ["CUSTOM_FAST", "HW_CPU_X86_AVX2"])
    assert result.traits == {"CUSTOM_FAST", "HW_CPU_X86_AVX2"}
    assert result.provider.generation == 1
    with pytest.raises(errors.ConcurrentUpdate):
        store.set_provider_traits(rp.uuid, 0, [])
    with pytest.raises(errors.TraitNotFound):
        store.set_provider_traits(rp.uuid, 1, ["CUSTOM_UNKNOWN"])
    assert store.get_provider_traits(rp.uuid).traits == {"CUSTOM_FAST", "HW_CPU_X86_AVX2"}


def test_aggregates_bump_generation_only_when_checked(store):
    rp = provider(store)
    agg = new_uuid()
    unchecked = store.set_provider_aggregates(rp.uuid, None, [agg])
    assert unchecked.provider.generation == 0
    checked = store.set_provider_aggregates(rp.uuid, 0, [agg, new_uuid()])
    assert checked.provider.generation == 1
    with pytest.raises(errors.ConcurrentUpdate):
        store.set_provider_aggregates(rp.uuid, 0, [])


def test_list_providers_filters(store):
    agg_a, agg_b = new_uuid(), new_uuid()
    store.ensure_trait("CUSTOM_GOLD")
    first = provider(store, "first")
    second = provider(store, "second")
    child = provider(store, "child", parent=first)
    store.set_provider_aggregates(first.uuid, None, [agg_a])
    store.set_provider_aggregates(second.uuid, None, [agg_b])
    store.set_provider_traits(second.uuid, 0, ["CUSTOM_GOLD"])
    inventory(store, first, VCPU=4)
    inventory(store, child, VCPU=16)

    def names(**kwargs):
        return [rp.name for rp in store.list_providers(ProviderQuery(**kwargs))]

    assert names() == ["first", "second", "child"]
    assert names(name="second") == ["second"]
    assert names(in_tree=child.uuid) == ["first", "child"]
    assert names(aggregates=AggregateRequirement(any_of=(frozenset({agg_a, agg_b}),))) == ["first", "second"]
    assert names(aggregates=AggregateRequirement(forbidden=frozenset({agg_a}))) == ["second", "child"]
    assert names(traits=TraitRequirement(any_of=(frozenset({"CUSTOM_GOLD"}),))) == ["second"]
    assert names(traits=TraitRequirement(forbidden=frozenset({"CUSTOM_GOLD"}))) == ["first", "child"]
    assert names(resources={"VCPU": 8}) == ["child"]
    assert names(resources={"VCPU": 4}) == ["first", "child"]


def test_a_deleted_provider_leaves_its_class_and_trait_unused(store):
    store.create_resource_class("CUSTOM_GONE")
    store.ensure_trait("CUSTOM_ONLY_HERE")
    rp = provider(store)
    inventory(store, rp, CUSTOM_GONE=4)
    store.set_provider_traits(rp.uuid, 1, ["CUSTOM_ONLY_HERE"])
    store.delete_provider(rp.uuid)
    store.delete_trait("CUSTOM_ONLY_HERE")
    store.delete_resource_class("CUSTOM_GONE")
