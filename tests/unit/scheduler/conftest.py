"""A real store (SQLite in a temporary file) and builders of fleets, so the
scheduler's tests run against what it runs against in production."""

from __future__ import annotations

import dataclasses
import random
import shutil
from pathlib import Path

import pytest

from berth.config import SchedulerSettings
from berth.placement.model import Inventory, ProviderRegistration
from berth.scheduler import Scheduler
from berth.scheduler.spec import zone_aggregate
from berth.store import open_store
from tests.support.builders import new_uuid


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory) -> Path:
    """One migrated SQLite file per session; tests get copies (migrating
    costs seconds, copying milliseconds)."""
    path = tmp_path_factory.mktemp("template") / "berth.db"
    template = open_store(f"sqlite:///{path}")
    template.upgrade()
    template.close()
    return path


@pytest.fixture
def store(tmp_path, migrated_database):
    path = tmp_path / "berth.db"
    shutil.copyfile(migrated_database, path)
    opened = open_store(f"sqlite:///{path}")
    yield opened
    opened.close()


@dataclasses.dataclass
class Fleet:
    """Registers hosts: ``fleet.host(vcpu=8, ram=4096, cell="c1")``."""

    store: object
    count: int = 0

    def host(
        self, vcpu: int = 8, ram: int = 8192, disk: int = 100, *, cell: str | None = None,
        traits: frozenset[str] = frozenset(), zone: str | None = None, used_vcpu: int = 0,
    ) -> str:
        self.count += 1
        uuid = new_uuid()
        aggregates = frozenset([zone_aggregate(zone)]) if zone else frozenset()
        for trait in traits:
            self.store.ensure_trait(trait)
        self.store.register_providers([ProviderRegistration(
            uuid, f"host-{self.count}-{uuid[:6]}",
            inventories={
                "VCPU": Inventory("VCPU", vcpu),
                "MEMORY_MB": Inventory("MEMORY_MB", ram),
                "DISK_GB": Inventory("DISK_GB", disk),
            },
            traits=traits, aggregates=aggregates, cell=cell,
        )])
        if used_vcpu:
            from tests.support.builders import claim
            self.store.write_allocations([claim(new_uuid(), {uuid: {"VCPU": used_vcpu}})])
        return uuid


@pytest.fixture
def fleet(store) -> Fleet:
    return Fleet(store)


def make_scheduler(store, **settings) -> Scheduler:
    """A scheduler with deterministic picks (subset 1 unless given)."""
    settings.setdefault("host_subset_size", 1)
    return Scheduler(store, SchedulerSettings(**settings), rng=random.Random(7))
