"""Moves of ACTIVE instances, with the migration's own uuid as a consumer.

``requested`` (the API asked) -> the conductor asks the scheduler for a
destination, claimed under the migration's uuid (so the instance's own
claim is untouched), then swaps in one ``write_allocations`` of two
consumer claims, all or nothing: the migration takes the source
allocations, the instance the destination's -> ``migrated``.
Confirm frees the migration's allocations (the source); revert gives them
back to the instance and empties the migration, in one write. Confirm and
revert are written as intents (``confirming``, ``reverting``) before they
are done, so that a process that dies half-way leaves work a conductor
finishes; each step reads the allocations first and does only what is
left, so doing it twice is doing it once.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from berth.conductor.allocations import free, generation, holdings
from berth.conductor.model import Build, BuildInstance, InstanceState, Migration, MigrationState
from berth.conductor.records import Change, update
from berth.placement import errors
from berth.placement.candidates.result import AllocationRequest
from berth.placement.model import ConsumerAllocations, ConsumerClaim
from berth.scheduler import NoValidHost
from berth.scheduler.spec import RequestSpec
from berth.store.port import Store

if TYPE_CHECKING:
    from berth.conductor.conductor import Conductor

# Placement 1.38's consumer type for a migration, as Nova writes it.
MIGRATION_CONSUMER_TYPE = "MIGRATION"


class MigrationRefused(Exception):
    """The instance cannot be migrated now, or the migration is not in a
    state that allows what was asked."""


def _roots(current: ConsumerAllocations) -> frozenset[str]:
    return frozenset(a.provider.root_provider_uuid for a in current.allocations)


def _with_migration(build: Build, instance: BuildInstance, now: float, migration: Migration, **fields) -> Build:
    changed = dataclasses.replace(instance, migration=migration, **fields)
    return dataclasses.replace(build.with_instance(changed), updated_at=now)


def _in_state(build: Build, uuid: str, migration_uuid: str, *states: MigrationState) -> BuildInstance | None:
    instance = build.instance(uuid)
    if (
        instance is None or instance.state is not InstanceState.ACTIVE or instance.migration is None
        or instance.migration.uuid != migration_uuid or instance.migration.state not in states
    ):
        return None
    return instance


# -- asked for through the API ---------------------------------------------------------


def requested(uuid: str, migration_uuid: str, now: float) -> Change:
    """Raises MigrationRefused unless the instance is ACTIVE and not moving."""

    def change(build: Build) -> Build | None:
        instance = build.instance(uuid)
        if instance is None:
            raise MigrationRefused(f"No instance {uuid} in build {build.id}.")
        if instance.state is not InstanceState.ACTIVE:
            raise MigrationRefused(f"Instance {uuid} is {instance.state.value}, not ACTIVE.")
        if instance.migration is not None and instance.migration.state not in (
            MigrationState.CONFIRMED, MigrationState.REVERTED, MigrationState.FAILED,
        ):
            raise MigrationRefused(f"Instance {uuid} is being migrated ({instance.migration.state.value}).")
        migration = Migration(migration_uuid, MigrationState.REQUESTED, instance.host, requested_at=now)
        return _with_migration(build, instance, now, migration)

    return change


def finishing(uuid: str, confirm: bool, now: float) -> Change:
    """The intent to confirm (or revert) a migrated instance. Asking again
    while it is being done, or once it is done, changes nothing; raises
    MigrationRefused otherwise."""
    wanted = MigrationState.CONFIRMING if confirm else MigrationState.REVERTING
    done = MigrationState.CONFIRMED if confirm else MigrationState.REVERTED

    def change(build: Build) -> Build | None:
        instance = build.instance(uuid)
        if instance is None:
            raise MigrationRefused(f"No instance {uuid} in build {build.id}.")
        migration = instance.migration
        if migration is not None and migration.state in (wanted, done):
            return None
        if instance.state is not InstanceState.ACTIVE or migration is None or migration.state is not MigrationState.MIGRATED:
            state = migration.state.value if migration else "no migration"
            raise MigrationRefused(f"Instance {uuid} has no migration to finish ({state}).")
        return _with_migration(build, instance, now, dataclasses.replace(migration, state=wanted))

    return change


# -- done by a conductor (or by the API right after recording an intent) ------------------


def advance(conductor: Conductor, build_id: str, uuid: str) -> None:
    build = conductor.fresh(build_id)
    instance = build.instance(uuid) if build else None
    if instance is None or not instance.migration_pending:
        return
    if instance.migration.state is MigrationState.REQUESTED:
        _migrate(conductor, build, instance)
    else:
        finish(conductor.store, build_id, uuid, conductor.clock())


def _migrate(conductor: Conductor, build: Build, instance: BuildInstance) -> None:
    store, migration, now = conductor.store, instance.migration, conductor.clock()
    held_by_migration = store.get_consumer_allocations(migration.uuid)
    if migration.source_host in _roots(held_by_migration):
        # Swapped already (a conductor died before recording it).
        destination = store.get_consumer_allocations(instance.uuid)
        _record_migrated(store, build.id, instance, migration, holdings(destination), now)
        return
    claimed = None
    if not held_by_migration.allocations:
        spec = _destination_spec(build.request_spec, instance.uuid, migration.uuid)
        try:
            result = conductor.scheduler.select_destinations(spec, 1, 0)
        except NoValidHost as failure:
            failed = dataclasses.replace(migration, state=MigrationState.FAILED, reason=failure.explanation.describe())
            update(store, build.id, _migration_moved(instance.uuid, migration, failed, now))
            return
        claimed = result.instances[0].chosen.allocation_request
        held_by_migration = store.get_consumer_allocations(migration.uuid)
    source = store.get_consumer_allocations(instance.uuid)
    destination = holdings(held_by_migration)
    spec = build.request_spec
    try:
        store.write_allocations([
            ConsumerClaim(migration.uuid, spec.project_id, spec.user_id, holdings(source),
                          expected_generation=generation(held_by_migration), consumer_type=MIGRATION_CONSUMER_TYPE),
            ConsumerClaim(instance.uuid, spec.project_id, spec.user_id, destination,
                          expected_generation=generation(source), consumer_type=spec.consumer_type),
        ])
    except errors.ConcurrentUpdate:
        # Someone else moved one of the two meanwhile: the next pass reads again.
        return
    _record_migrated(store, build.id, instance, migration, destination, now, claimed)


def _destination_spec(spec: RequestSpec, instance_uuid: str, migration_uuid: str) -> RequestSpec:
    """The instance's own request, claimed for the migration's uuid, on a
    host that does not hold the instance."""
    hints = dataclasses.replace(spec.hints, different_host=(*spec.hints.different_host, instance_uuid))
    return dataclasses.replace(
        spec, instance_uuids=(migration_uuid,), hints=hints, consumer_type=MIGRATION_CONSUMER_TYPE,
    )


def _record_migrated(
    store: Store, build_id: str, instance: BuildInstance, migration: Migration,
    destination: dict[str, dict[str, int]], now: float, claimed: AllocationRequest | None = None,
) -> None:
    roots = _roots(store.get_consumer_allocations(instance.uuid))
    host = next(iter(roots)) if len(roots) == 1 else migration.source_host
    moved = dataclasses.replace(migration, state=MigrationState.MIGRATED, destination_host=host)
    update(store, build_id, _migration_moved(
        instance.uuid, migration, moved, now,
        host=host, claimed=claimed or AllocationRequest(destination, {}),
    ))


def _migration_moved(uuid: str, before: Migration, after: Migration, now: float, **fields) -> Change:
    def change(build: Build) -> Build | None:
        instance = _in_state(build, uuid, before.uuid, before.state)
        if instance is None:
            return None
        return _with_migration(build, instance, now, after, **fields)

    return change


def finish(store: Store, build_id: str, uuid: str, now: float) -> Build | None:
    """Carry out a confirm or revert recorded as an intent; the build as
    saved, or None when there was nothing to do."""
    build = store.get_build(build_id)
    instance = build.instance(uuid)
    migration = instance.migration if instance else None
    if migration is None or migration.state not in (MigrationState.CONFIRMING, MigrationState.REVERTING):
        return None
    if migration.state is MigrationState.CONFIRMING:
        free(store, migration.uuid)
        done = dataclasses.replace(migration, state=MigrationState.CONFIRMED)
        return update(store, build_id, _migration_moved(uuid, migration, done, now))
    _give_back_source(store, build.request_spec, instance, migration)
    source = store.get_consumer_allocations(uuid)
    done = dataclasses.replace(migration, state=MigrationState.REVERTED)
    return update(store, build_id, _migration_moved(
        uuid, migration, done, now,
        host=migration.source_host, claimed=AllocationRequest(holdings(source), {}),
    ))


def _give_back_source(store: Store, spec: RequestSpec, instance: BuildInstance, migration: Migration) -> None:
    """One write: the instance takes the source back from the migration,
    which is left empty (giving the destination back in the same write)."""
    for _ in range(5):
        held_by_migration = store.get_consumer_allocations(migration.uuid)
        if not held_by_migration.allocations:
            return
        current = store.get_consumer_allocations(instance.uuid)
        try:
            store.write_allocations([
                ConsumerClaim(instance.uuid, spec.project_id, spec.user_id, holdings(held_by_migration),
                              expected_generation=generation(current), consumer_type=spec.consumer_type),
                ConsumerClaim(migration.uuid, spec.project_id, spec.user_id, {},
                              expected_generation=generation(held_by_migration)),
            ])
            return
        except errors.ConcurrentUpdate:
            continue
    raise errors.ConcurrentUpdate()
