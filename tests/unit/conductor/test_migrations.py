"""Migrations: the migration's uuid holds the source while the instance
holds the destination; confirm and revert finish the move in one write."""

from __future__ import annotations

import pytest

from berth.conductor import allocations, migrations
from berth.conductor.model import MigrationState, Outcome
from berth.conductor.records import update
from tests.support.builders import claim, new_uuid
from tests.support.builds import new_build
from tests.unit.conductor.conftest import report


def _held(store, consumer: str) -> dict:
    return allocations.holdings(store.get_consumer_allocations(consumer))


def _active(store, conductor, build_kwargs=None):
    build = store.create_build(new_build(**(build_kwargs or {})))
    conductor.run_once()
    uuid = build.instances[0].uuid
    report(store, build.id, uuid, Outcome.SUCCEEDED)
    return build.id, uuid


def _migrate(store, conductor, build_id, uuid) -> str:
    migration_uuid = new_uuid()
    update(store, build_id, migrations.requested(uuid, migration_uuid, 5.0))
    conductor.run_once()
    return migration_uuid


def test_migrate_swaps_the_claims_in_one_write(store, fleet, conductor):
    fleet.host(), fleet.host()
    build_id, uuid = _active(store, conductor)
    source = store.get_build(build_id).instances[0].host
    migration_uuid = _migrate(store, conductor, build_id, uuid)
    instance = store.get_build(build_id).instances[0]
    assert instance.migration.state is MigrationState.MIGRATED
    assert instance.migration.source_host == source
    assert instance.host == instance.migration.destination_host != source
    assert _held(store, uuid) == {instance.host: {"VCPU": 1}}
    assert _held(store, migration_uuid) == {source: {"VCPU": 1}}
    assert store.get_consumer_allocations(migration_uuid).consumer.consumer_type == "MIGRATION"


def test_confirm_frees_the_source(store, fleet, conductor):
    fleet.host(), fleet.host()
    build_id, uuid = _active(store, conductor)
    migration_uuid = _migrate(store, conductor, build_id, uuid)
    destination = store.get_build(build_id).instances[0].host
    update(store, build_id, migrations.finishing(uuid, confirm=True, now=6.0))
    migrations.finish(store, build_id, uuid, 6.0)
    instance = store.get_build(build_id).instances[0]
    assert instance.migration.state is MigrationState.CONFIRMED and instance.host == destination
    assert _held(store, migration_uuid) == {}
    assert _held(store, uuid) == {destination: {"VCPU": 1}}
    # Asking again changes nothing; a revert now is refused.
    assert update(store, build_id, migrations.finishing(uuid, confirm=True, now=7.0)) is None
    with pytest.raises(migrations.MigrationRefused):
        update(store, build_id, migrations.finishing(uuid, confirm=False, now=7.0))


def test_revert_gives_the_source_back(store, fleet, conductor):
    fleet.host(), fleet.host()
    build_id, uuid = _active(store, conductor)
    source = store.get_build(build_id).instances[0].host
    migration_uuid = _migrate(store, conductor, build_id, uuid)
    update(store, build_id, migrations.finishing(uuid, confirm=False, now=6.0))
    # Left as an intent (the API process died): the conductor finishes it.
    conductor.run_once()
    instance = store.get_build(build_id).instances[0]
    assert instance.migration.state is MigrationState.REVERTED and instance.host == source
    assert _held(store, uuid) == {source: {"VCPU": 1}}
    assert _held(store, migration_uuid) == {}
    assert store.list_build_work(10) == []


def test_no_destination_fails_the_migration_and_moves_nothing(store, fleet, conductor):
    only = fleet.host()
    build_id, uuid = _active(store, conductor)
    migration_uuid = _migrate(store, conductor, build_id, uuid)
    instance = store.get_build(build_id).instances[0]
    assert instance.migration.state is MigrationState.FAILED
    assert "No valid host" in instance.migration.reason or "no host" in instance.migration.reason.lower()
    assert _held(store, uuid) == {only: {"VCPU": 1}}
    assert _held(store, migration_uuid) == {}


def test_a_swap_made_by_a_dead_conductor_is_recorded(store, fleet, conductor):
    fleet.host(), fleet.host()
    build_id, uuid = _active(store, conductor)
    instance = store.get_build(build_id).instances[0]
    source = instance.host
    destination = next(h for h in _hosts(store) if h != source)
    migration_uuid = new_uuid()
    update(store, build_id, migrations.requested(uuid, migration_uuid, 5.0))
    generation = store.get_consumer_allocations(uuid).consumer.generation
    store.write_allocations([
        claim(migration_uuid, {source: {"VCPU": 1}}, generation=None, project="project", user="user"),
        claim(uuid, {destination: {"VCPU": 1}}, generation=generation, project="project", user="user"),
    ])
    conductor.run_once()
    instance = store.get_build(build_id).instances[0]
    assert instance.migration.state is MigrationState.MIGRATED and instance.host == destination
    assert _held(store, migration_uuid) == {source: {"VCPU": 1}}


def test_only_an_active_instance_migrates(store, fleet, conductor):
    fleet.host()
    build = store.create_build(new_build())
    with pytest.raises(migrations.MigrationRefused):
        update(store, build.id, migrations.requested(build.instances[0].uuid, "m", 1.0))


def _hosts(store) -> list[str]:
    from berth.placement.query import ProviderQuery

    return [p.uuid for p in store.list_providers(ProviderQuery())]


def test_a_deleted_instance_is_released_with_its_migration(store, fleet, conductor):
    from berth.conductor.transitions import deleted

    fleet.host(), fleet.host()
    build_id, uuid = _active(store, conductor)
    migration_uuid = _migrate(store, conductor, build_id, uuid)
    assert _held(store, migration_uuid)
    update(store, build_id, migrations.finishing(uuid, confirm=True, now=6.0))
    update(store, build_id, deleted(uuid, 7.0))
    conductor.run_once()
    instance = store.get_build(build_id).instances[0]
    assert instance.released and instance.migration.state is MigrationState.CONFIRMING
    assert _held(store, uuid) == {} and _held(store, migration_uuid) == {}
    assert store.list_build_work(10) == []
