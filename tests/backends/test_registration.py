"""Registering many providers at once, on every backend."""

from __future__ import annotations

import pytest

from berth.placement import errors
from berth.placement.model import Inventory, ProviderRegistration
from berth.placement.query import ProviderQuery
from tests.support.builders import new_uuid, provider


def _tree(root_uuid: str, name: str) -> list[ProviderRegistration]:
    child = new_uuid()
    return [
        ProviderRegistration(
            root_uuid, name,
            inventories={"VCPU": Inventory("VCPU", 16, reserved=2, allocation_ratio=4.0)},
            traits=frozenset({"HW_CPU_X86_AVX2"}),
            aggregates=frozenset({"11111111-1111-1111-1111-111111111111"}),
        ),
        ProviderRegistration(
            child, f"{name}-pf", parent_uuid=root_uuid,
            inventories={"SRIOV_NET_VF": Inventory("SRIOV_NET_VF", 8, max_unit=4)},
        ),
    ]


def test_registered_trees_read_back_like_single_writes(store):
    first, second = new_uuid(), new_uuid()
    store.register_providers(_tree(first, "cn1") + _tree(second, "cn2"))
    root = store.get_provider(second)
    assert (root.generation, root.root_provider_uuid, root.parent_provider_uuid) == (0, second, None)
    children = [p for p in store.list_providers(ProviderQuery(in_tree=second)) if p.uuid != second]
    assert [c.parent_provider_uuid for c in children] == [second]
    assert store.get_inventories(second).inventories["VCPU"].allocation_ratio == 4.0
    assert store.get_inventories(children[0].uuid).inventories["SRIOV_NET_VF"].max_unit == 4
    assert store.get_provider_traits(first).traits == {"HW_CPU_X86_AVX2"}
    assert store.get_provider_aggregates(first).aggregates == {"11111111-1111-1111-1111-111111111111"}


def test_registered_providers_appear_in_the_change_feed(store):
    before = store.read_provider_changes(None).cursor
    uuid = new_uuid()
    store.register_providers(_tree(uuid, "cn1"))
    changed = store.read_provider_changes(before)
    assert not changed.complete
    assert {p.uuid for p in changed.providers} >= {uuid}
    snapshot = next(p for p in changed.providers if p.uuid == uuid)
    assert snapshot.inventories["VCPU"].total == 16
    assert snapshot.traits == {"HW_CPU_X86_AVX2"}


@pytest.mark.parametrize("problem", ["taken uuid", "taken name", "unknown trait", "unknown class"])
def test_a_bad_registration_writes_nothing(store, problem):
    existing = provider(store, "existing")
    fresh = new_uuid()
    good = ProviderRegistration(fresh, "fresh")
    bad = {
        "taken uuid": ProviderRegistration(existing.uuid, "other"),
        "taken name": ProviderRegistration(new_uuid(), "existing"),
        "unknown trait": ProviderRegistration(new_uuid(), "x", traits=frozenset({"CUSTOM_NOPE"})),
        "unknown class": ProviderRegistration(
            new_uuid(), "x", inventories={"CUSTOM_NOPE": Inventory("CUSTOM_NOPE", 1)}
        ),
    }[problem]
    with pytest.raises(errors.BerthError):
        store.register_providers([good, bad])
    with pytest.raises(errors.ResourceProviderNotFound):
        store.get_provider(fresh)
