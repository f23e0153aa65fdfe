"""Deleting a resource class or a trait while a writer makes its first use
of it (store/cassandra/retirement.py): the delete wins and the writer is
refused, or the write wins and the delete is refused; never a provider
holding a class or trait that no longer exists.

The interleavings the handshake must survive are forced by running the
delete in the middle of a writer (between its confirmation and its batch,
and before its confirmation), then both run concurrently, many times.
"""

from __future__ import annotations

import threading

import pytest

from berth.placement import errors
from berth.placement.model import Inventory
from berth.store.cassandra import retirement
from tests.support.builders import provider

pytestmark = [pytest.mark.cassandra]

ROUNDS = 8


@pytest.fixture
def store(cassandra_store):
    return cassandra_store


def inventory_class_ids(store, uuid: str) -> set[int]:
    """The class ids of the provider's inventory rows as stored, whether or
    not their class still exists (the port hides rows of unknown ids)."""
    part = store.locator.get(uuid)
    rows = store.conn.execute("SELECT provider, kind, rc FROM {ks}.tree WHERE part = ?", (part,))
    return {r.rc for r in rows if r.kind == "i" and r.provider == uuid}


def class_id(store, name: str) -> int:
    return store.conn.execute("SELECT id FROM {ks}.catalog WHERE kind = 'rc' AND name = ?", (name,))[0].id


def delete_during_confirmation(monkeypatch, delete, before: bool) -> list[Exception | None]:
    """Run ``delete`` once, inside the next writer's confirmation step:
    before it (the writer then sees the delete) or after it (the writer has
    confirmed and not yet sent its batch). Returns the delete's outcome."""
    real = retirement.confirm_live
    outcome: list[Exception | None] = []

    def confirm_then_delete(conn, names):
        if outcome or not any(n.deletable for n in names):
            return real(conn, names)
        if not before:
            real(conn, names)
        try:
            delete()
            outcome.append(None)
        except errors.BerthError as exc:
            outcome.append(exc)
        if before:
            real(conn, names)

    monkeypatch.setattr(retirement, "confirm_live", confirm_then_delete)
    return outcome


def test_a_class_deleted_after_a_writer_confirmed_it_fences_the_writer(store, monkeypatch):
    store.create_resource_class("CUSTOM_RACE")
    rc = class_id(store, "CUSTOM_RACE")
    rp = provider(store)
    deleted = delete_during_confirmation(monkeypatch, lambda: store.delete_resource_class("CUSTOM_RACE"), before=False)
    with pytest.raises(errors.ConcurrentUpdate):
        store.replace_inventories(rp.uuid, 0, {"CUSTOM_RACE": Inventory("CUSTOM_RACE", 4)})
    assert deleted == [None]
    assert store.get_provider(rp.uuid).generation == 1  # the fence moved it
    assert rc not in inventory_class_ids(store, rp.uuid)
    with pytest.raises(errors.ResourceClassNotFound):
        store.get_resource_class("CUSTOM_RACE")


def test_a_class_deleted_before_a_writer_confirms_it_refuses_the_writer(store, monkeypatch):
    store.create_resource_class("CUSTOM_RACE")
    rc = class_id(store, "CUSTOM_RACE")
    rp = provider(store)
    deleted = delete_during_confirmation(monkeypatch, lambda: store.delete_resource_class("CUSTOM_RACE"), before=True)
    with pytest.raises(errors.ResourceClassNotFound):
        store.replace_inventories(rp.uuid, 0, {"CUSTOM_RACE": Inventory("CUSTOM_RACE", 4)})
    assert deleted == [None]
    assert rc not in inventory_class_ids(store, rp.uuid)
    # A class of the same name is another class: it can be used.
    store.create_resource_class("CUSTOM_RACE")
    generation = store.get_provider(rp.uuid).generation
    store.replace_inventories(rp.uuid, generation, {"CUSTOM_RACE": Inventory("CUSTOM_RACE", 4)})
    assert set(store.get_inventories(rp.uuid).inventories) == {"CUSTOM_RACE"}


def test_a_class_in_use_is_kept_and_stays_usable(store):
    store.create_resource_class("CUSTOM_KEPT")
    rp = provider(store)
    store.replace_inventories(rp.uuid, 0, {"CUSTOM_KEPT": Inventory("CUSTOM_KEPT", 4)})
    with pytest.raises(errors.ResourceClassInUse):
        store.delete_resource_class("CUSTOM_KEPT")
    other = provider(store)
    store.replace_inventories(other.uuid, 0, {"CUSTOM_KEPT": Inventory("CUSTOM_KEPT", 2)})
    # Once no provider has it (the index still lists both), it can go.
    store.replace_inventories(rp.uuid, 1, {})
    store.replace_inventories(other.uuid, 1, {})
    store.delete_resource_class("CUSTOM_KEPT")
    assert "CUSTOM_KEPT" not in {c.name for c in store.list_resource_classes()}


def test_a_trait_deleted_after_a_writer_confirmed_it_fences_the_writer(store, monkeypatch):
    store.ensure_trait("CUSTOM_RACE")
    rp = provider(store)
    deleted = delete_during_confirmation(monkeypatch, lambda: store.delete_trait("CUSTOM_RACE"), before=False)
    with pytest.raises(errors.ConcurrentUpdate):
        store.set_provider_traits(rp.uuid, 0, ["CUSTOM_RACE"])
    assert deleted == [None]
    assert store.get_provider_traits(rp.uuid).traits == frozenset()
    assert [t.name for t in store.list_traits(prefix="CUSTOM_")] == []


def test_a_trait_deleted_and_created_again_before_a_writer_confirms_refuses_the_writer(store, monkeypatch):
    store.ensure_trait("CUSTOM_AGAIN")
    rp = provider(store)

    def delete_and_create_again():
        store.delete_trait("CUSTOM_AGAIN")
        store.ensure_trait("CUSTOM_AGAIN")

    deleted = delete_during_confirmation(monkeypatch, delete_and_create_again, before=True)
    with pytest.raises(errors.TraitNotFound):
        store.set_provider_traits(rp.uuid, 0, ["CUSTOM_AGAIN"])
    assert deleted == [None]
    assert store.get_provider_traits(rp.uuid).traits == frozenset()


def test_a_trait_removed_from_every_provider_is_unassociated_and_deletable(store):
    store.ensure_trait("CUSTOM_ONCE")
    rp = provider(store)
    store.set_provider_traits(rp.uuid, 0, ["CUSTOM_ONCE"])
    assert "CUSTOM_ONCE" in {t.name for t in store.list_traits(associated=True)}
    with pytest.raises(errors.TraitInUse):
        store.delete_trait("CUSTOM_ONCE")
    store.set_provider_traits(rp.uuid, 1, [])
    assert "CUSTOM_ONCE" in {t.name for t in store.list_traits(associated=False)}
    store.delete_trait("CUSTOM_ONCE")


def race(write, delete) -> tuple[Exception | None, Exception | None]:
    """Run ``write`` and ``delete`` at the same moment; each retries a
    ConcurrentUpdate, as a client would. Returns their final errors."""
    start = threading.Barrier(2)
    results: dict[str, Exception | None] = {}

    def run(name, action):
        start.wait()
        for _ in range(50):
            try:
                action()
                results[name] = None
                return
            except errors.ConcurrentUpdate:
                continue
            except errors.BerthError as exc:
                results[name] = exc
                return
        results[name] = errors.ConcurrentUpdate("still conflicting after 50 tries")

    threads = [threading.Thread(target=run, args=item) for item in (("write", write), ("delete", delete))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results["write"], results["delete"]


def test_concurrent_first_use_and_delete_of_a_class(store):
    outcomes = set()
    for round_ in range(ROUNDS):
        name = f"CUSTOM_RACE_{round_}"
        store.create_resource_class(name)
        rc = class_id(store, name)
        rp = provider(store)

        def write():
            generation = store.get_provider(rp.uuid).generation
            store.replace_inventories(rp.uuid, generation, {name: Inventory(name, 8)})

        write_error, delete_error = race(write, lambda: store.delete_resource_class(name))
        if write_error is None:
            assert isinstance(delete_error, errors.ResourceClassInUse)
            assert rc in inventory_class_ids(store, rp.uuid)
            assert store.get_resource_class(name).name == name
            outcomes.add("write won")
        else:
            assert isinstance(write_error, errors.ResourceClassNotFound), write_error
            assert delete_error is None
            assert rc not in inventory_class_ids(store, rp.uuid)
            outcomes.add("delete won")
    print(f"outcomes seen: {sorted(outcomes)}")


def test_concurrent_first_use_and_delete_of_a_trait(store):
    for round_ in range(ROUNDS):
        name = f"CUSTOM_RACE_{round_}"
        store.ensure_trait(name)
        rp = provider(store)

        def write():
            generation = store.get_provider(rp.uuid).generation
            store.set_provider_traits(rp.uuid, generation, [name])

        write_error, delete_error = race(write, lambda: store.delete_trait(name))
        held = store.get_provider_traits(rp.uuid).traits
        if write_error is None:
            assert isinstance(delete_error, errors.TraitInUse)
            assert held == {name}
            assert store.get_trait(name).name == name
        else:
            assert isinstance(write_error, errors.TraitNotFound), write_error
            assert delete_error is None
            assert held == frozenset()
