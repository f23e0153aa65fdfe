"""The conductor over a real store (SQLite) and a real scheduler; the
agents' reports are written as the API writes them."""

from __future__ import annotations

import pytest

from berth.conductor.conductor import Conductor
from berth.conductor.model import FailureKind, Outcome
from berth.conductor.records import update
from berth.conductor.transitions import reported
from tests.unit.scheduler.conftest import Fleet, make_scheduler, migrated_database, store  # noqa: F401


@pytest.fixture
def fleet(store) -> Fleet:  # noqa: F811
    return Fleet(store)


@pytest.fixture
def conductor(store) -> Conductor:  # noqa: F811
    return Conductor(make_scheduler(store), owner="conductor-test")


def report(store, build_id: str, uuid: str, outcome: Outcome, reason: str | None = None) -> None:  # noqa: F811
    """What an agent's PUT .../attempts/{n} writes, for the current attempt."""
    instance = store.get_build(build_id).instance(uuid)
    kind = FailureKind.HARDWARE if outcome is Outcome.FAILED else None
    update(store, build_id, reported(uuid, instance.current_attempt.number, outcome, reason, kind, 1.0))
