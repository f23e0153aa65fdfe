"""Cells: a provider belongs to at most one cell; the change feed carries it.

berth's own attribute (Placement has no cells); see docs/scheduler.md.
"""

from __future__ import annotations

import pytest

from berth.placement import errors
from berth.placement.model import Inventory, ProviderRegistration
from tests.support.builders import new_uuid, provider


def _snapshot(store, uuid):
    changes = store.read_provider_changes(None)
    return next(p for p in changes.providers if p.uuid == uuid)


def test_a_new_provider_has_no_cell(store):
    rp = provider(store)
    assert store.get_provider_cell(rp.uuid) is None
    assert _snapshot(store, rp.uuid).cell is None


def test_set_and_clear_the_cell(store):
    rp = provider(store)
    store.set_provider_cell(rp.uuid, "cell1")
    assert store.get_provider_cell(rp.uuid) == "cell1"
    store.set_provider_cell(rp.uuid, None)
    assert store.get_provider_cell(rp.uuid) is None


def test_setting_the_cell_keeps_the_generation(store):
    rp = provider(store)
    store.set_provider_cell(rp.uuid, "cell1")
    assert store.get_provider(rp.uuid).generation == rp.generation


def test_the_change_feed_reports_a_cell_change(store):
    rp = provider(store)
    cursor = store.read_provider_changes(None).cursor
    store.set_provider_cell(rp.uuid, "cell2")
    changes = store.read_provider_changes(cursor)
    changed = [p for p in changes.providers if p.uuid == rp.uuid]
    assert changed and changed[0].cell == "cell2"


def test_unknown_provider(store):
    with pytest.raises(errors.ResourceProviderNotFound):
        store.get_provider_cell(new_uuid())
    with pytest.raises(errors.ResourceProviderNotFound):
        store.set_provider_cell(new_uuid(), "cell1")


def test_registration_reports_the_cell(store):
    uuid = new_uuid()
    store.register_providers([
        ProviderRegistration(uuid, "host-a", inventories={"VCPU": Inventory("VCPU", 8)}, cell="cell3"),
    ])
    assert store.get_provider_cell(uuid) == "cell3"
    assert _snapshot(store, uuid).cell == "cell3"
