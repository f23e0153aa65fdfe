"""The candidate index kept current from the change feed equals an index
loaded from scratch, after any sequence of writes to a real SQLite store."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from berth.placement import errors
from berth.placement.candidates import index as index_module
from berth.placement.candidates.finder import CandidateFinder
from berth.placement.candidates.index import CandidateIndex
from berth.placement.model import Inventory, ProviderSnapshot, UsageChange
from berth.store import open_store
from tests.support.builders import claim, new_uuid

CLASSES = ["VCPU", "DISK_GB", "SRIOV_NET_VF"]
TRAITS = ["HW_CPU_X86_AVX2", "MISC_SHARES_VIA_AGGREGATE", "STORAGE_DISK_SSD"]
AGGREGATES = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(3)]
# Amounts whose ResourceColumn.fits masks are compared (kept between steps).
FITTING_AMOUNTS = (0, 1, 2, 4, 8)


def describe(index: CandidateIndex) -> dict:
    """Everything a search reads, keyed by uuid instead of slot."""
    uuid = index.uuid
    providers = {}
    for slot in np.flatnonzero(index.alive).tolist():
        parent = int(index.parent[slot])
        providers[uuid(slot)] = (
            uuid(int(index.root[slot])),
            uuid(parent) if parent >= 0 else None,
            {
                name: (
                    float(column.capacity[slot]), int(column.used[slot]), float(column.free[slot]),
                    int(column.min_unit[slot]),
                    int(column.max_unit[slot]), int(column.step_size[slot]),
                )
                for name, column in index.resources.items() if column.present[slot]
            },
            index.traits[slot],
            index.aggregates[slot],
        )
    columns = {
        ("trait", name): {uuid(s) for s in np.flatnonzero(column & index.alive).tolist()}
        for name, column in index.trait_columns.items()
    } | {
        ("aggregate", name): {uuid(s) for s in np.flatnonzero(column & index.alive).tolist()}
        for name, column in index.aggregate_columns.items()
    }
    roots = [slot for slot in np.flatnonzero(index.alive).tolist() if int(index.root[slot]) == slot]
    trees = {uuid(root): {uuid(s) for s in index.tree_of(root)} for root in roots}
    return {
        "providers": providers,
        "columns": {key: members for key, members in columns.items() if members},
        "trees": trees,
        "has_trees": index.has_trees,
        # Cached between searches: must follow every change of shape.
        "live_roots": {uuid(s) for s in np.flatnonzero(index.live_roots).tolist()},
        "live_root_count": index.live_root_count,
        "live_sharing": (
            None if index.live_sharing is None
            else {uuid(s) for s in np.flatnonzero(index.live_sharing).tolist()}
        ),
        # Kept between searches: must follow every change of usage and shape.
        "summaries": {uuid(s): index.summary(s) for s in np.flatnonzero(index.alive).tolist()},
        "fitting": {
            (name, amount): {uuid(s) for s in np.flatnonzero(column.fits(amount) & index.alive).tolist()}
            for name, column in index.resources.items() if (column.present & index.alive).any()
            for amount in FITTING_AMOUNTS
        },
        # A vacated slot holds nothing a search could pick up.
        "ghosts": [
            name for name, column in index.resources.items()
            if (column.present & ~index.alive).any()
        ],
    }


class IndexFollowsTheStore(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.TemporaryDirectory()
        self.store = open_store(f"sqlite:///{Path(self.directory.name) / 'berth.db'}")
        self.store.upgrade()
        self.finder = CandidateFinder(self.store)
        self.providers: list[str] = []
        self.consumers: list[str] = []

    def teardown(self) -> None:
        self.store.close()
        self.directory.cleanup()

    def _generation(self, uuid: str) -> int:
        return self.store.get_provider(uuid).generation

    @rule()
    def create_root(self) -> None:
        uuid = new_uuid()
        self.store.create_provider(uuid, f"rp-{uuid}")
        self.providers.append(uuid)

    @precondition(lambda self: self.providers)
    @rule(data=st.data())
    def create_child(self, data) -> None:
        parent = data.draw(st.sampled_from(self.providers))
        uuid = new_uuid()
        self.store.create_provider(uuid, f"rp-{uuid}", parent)
        self.providers.append(uuid)

    @precondition(lambda self: self.providers)
    @rule(data=st.data(), classes=st.sets(st.sampled_from(CLASSES)), total=st.integers(1, 16),
          reserved=st.integers(0, 2), ratio=st.sampled_from([1.0, 1.5, 4.0]))
    def set_inventory(self, data, classes, total, reserved, ratio) -> None:
        uuid = data.draw(st.sampled_from(self.providers))
        wanted = {
            rc: Inventory(rc, total=total + reserved, reserved=reserved, allocation_ratio=ratio)
            for rc in classes
        }
        try:
            self.store.replace_inventories(uuid, self._generation(uuid), wanted)
        except errors.InventoryInUse:
            pass

    @precondition(lambda self: self.providers)
    @rule(data=st.data(), traits=st.sets(st.sampled_from(TRAITS)))
    def set_traits(self, data, traits) -> None:
        uuid = data.draw(st.sampled_from(self.providers))
        self.store.set_provider_traits(uuid, self._generation(uuid), traits)

    @precondition(lambda self: self.providers)
    @rule(data=st.data(), aggregates=st.sets(st.sampled_from(AGGREGATES)))
    def set_aggregates(self, data, aggregates) -> None:
        uuid = data.draw(st.sampled_from(self.providers))
        self.store.set_provider_aggregates(uuid, self._generation(uuid), aggregates)

    @precondition(lambda self: self.providers)
    @rule(data=st.data(), resource_class=st.sampled_from(CLASSES), amount=st.integers(1, 4))
    def allocate(self, data, resource_class, amount) -> None:
        uuid = data.draw(st.sampled_from(self.providers))
        consumer = new_uuid()
        try:
            self.store.write_allocations([claim(consumer, {uuid: {resource_class: amount}})])
        except errors.BerthError:
            return
        self.consumers.append(consumer)

    @precondition(lambda self: self.consumers)
    @rule(data=st.data())
    def free(self, data) -> None:
        consumer = data.draw(st.sampled_from(self.consumers))
        self.consumers.remove(consumer)
        self.store.delete_consumer_allocations(consumer)

    @precondition(lambda self: self.providers)
    @rule(data=st.data())
    def delete_provider(self, data) -> None:
        uuid = data.draw(st.sampled_from(self.providers))
        try:
            self.store.delete_provider(uuid)
        except errors.BerthError:
            return
        self.providers.remove(uuid)

    @precondition(lambda self: len(self.providers) > 1)
    @rule(data=st.data(), unparent=st.booleans())
    def move_provider(self, data, unparent) -> None:
        uuid = data.draw(st.sampled_from(self.providers))
        parent = None if unparent else data.draw(st.sampled_from(self.providers))
        provider = self.store.get_provider(uuid)
        try:
            self.store.update_provider(uuid, provider.name, parent, allow_reparent=True)
        except errors.BerthError:
            pass

    @invariant()
    def index_equals_a_fresh_load(self) -> None:
        self.finder.refresh()
        fresh = CandidateIndex()
        fresh.replace_all(self.store.read_provider_changes(None).providers)
        assert describe(self.finder.index) == describe(fresh)
        assert describe(fresh)["ghosts"] == []


IndexFollowsTheStore.TestCase.settings = settings(
    max_examples=25, stateful_step_count=25, deadline=None
)
test_index_follows_the_store = IndexFollowsTheStore.TestCase


def _root(uuid: str, vcpu: int, used: int = 0) -> ProviderSnapshot:
    return ProviderSnapshot(
        uuid=uuid, name=uuid, generation=1, root_provider_uuid=uuid, parent_provider_uuid=None,
        inventories={"VCPU": Inventory("VCPU", vcpu)}, usages={"VCPU": used},
        traits=frozenset(), aggregates=frozenset(),
    )


def test_summaries_kept_between_searches_are_bounded_and_follow_claims(monkeypatch):
    monkeypatch.setattr(index_module, "SUMMARIES_KEPT", 2)
    index = CandidateIndex()
    index.apply([_root(f"host-{n}", vcpu=8 + n) for n in range(5)], [])
    for _ in range(2):  # the second round after the kept ones were dropped
        for n in range(5):
            summary = index.summary(index.slot_of[f"host-{n}"])
            assert (summary.uuid, summary.resources["VCPU"].capacity, summary.resources["VCPU"].used) == (
                f"host-{n}", 8 + n, 0,
            )
            assert len(index._summaries) <= 2
    slot = index.slot_of["host-4"]
    index.add_usages({"host-4": {"VCPU": 3}})  # this process's own claim
    assert index.summary(slot).resources["VCPU"].used == 3


def test_fitting_masks_are_kept_read_only_bounded_and_follow_claims(monkeypatch):
    monkeypatch.setattr(index_module, "FITTING_KEPT", 2)
    index = CandidateIndex()
    index.apply([_root(f"host-{n}", vcpu=4) for n in range(3)], [])
    column = index.resources["VCPU"]

    def fitting(amount: int) -> set[str]:
        return {index.uuid(s) for s in np.flatnonzero(column.fits(amount) & index.alive).tolist()}

    assert fitting(3) == {"host-0", "host-1", "host-2"}
    with pytest.raises(ValueError):
        column.fits(3)[0] = False
    index.add_usages({"host-1": {"VCPU": 2}})  # this process's own claim
    assert fitting(3) == {"host-0", "host-2"}
    assert fitting(2) == {"host-0", "host-1", "host-2"}
    index.apply_usages([UsageChange("host-1", {"VCPU": 0})])  # the feed's figure
    assert fitting(3) == {"host-0", "host-1", "host-2"}
    assert fitting(4) == {"host-0", "host-1", "host-2"}  # a third amount: the kept ones are dropped
    assert len(column._fitting) <= 2
    index.add_usages({"host-2": {"VCPU": 1}})
    assert (fitting(3), fitting(4)) == ({"host-0", "host-1", "host-2"}, {"host-0", "host-1"})
