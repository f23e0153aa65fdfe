"""A conductor killed at any point: the store refuses everything from the
n-th write of a conductor on (as if the process died there), for every n
the run makes, and a second conductor, once the first one's lease expired,
must finish every build, with usage exactly the ACTIVE instances'."""

from __future__ import annotations

import pytest

from berth.conductor import allocations
from berth.conductor.conductor import Conductor
from berth.conductor.model import InstanceState, Outcome
from berth.placement.query import ProviderQuery
from tests.support.builds import new_build
from tests.unit.conductor.conftest import report
from tests.unit.scheduler.conftest import make_scheduler

WRITES = ("write_allocations", "save_build", "create_build", "delete_consumer_allocations")


class Killed(BaseException):
    """The process is gone (a BaseException: nothing in the conductor catches it)."""


class DyingStore:
    """The store as a conductor that dies before its n-th write sees it."""

    def __init__(self, store, dies_at: int) -> None:
        self._store = store
        self.dies_at = dies_at
        self.writes = 0
        self.dead = False

    def __getattr__(self, name):
        method = getattr(self._store, name)

        def call(*args, **kwargs):
            if name in WRITES:
                self.writes += 1
                if self.writes >= self.dies_at:
                    self.dead = True
            if self.dead:
                raise Killed(name)
            return method(*args, **kwargs)

        return call


def _agents_report(store, build_ids, failing: set[tuple[int, int]], order: dict[str, int]) -> None:
    """Report every attempt building now: it fails when (instance, attempt) is in ``failing``."""
    for build_id in build_ids:
        for instance in store.get_build(build_id).instances:
            current = instance.current_attempt
            if instance.state is InstanceState.BUILDING and current.outcome is Outcome.BUILDING:
                failed = (order[instance.uuid], current.number) in failing
                report(store, build_id, instance.uuid, Outcome.FAILED if failed else Outcome.SUCCEEDED, "boom")


def _run(store, conductor, build_ids, failing, order, passes: int = 12) -> None:
    for _ in range(passes):
        conductor.run_once()
        _agents_report(store, build_ids, failing, order)


# Instance 0 fails its first attempt, instance 1 its first two, instance 2
# every attempt (alternates run out).
FAILING = {(0, 1), (1, 1), (1, 2), (2, 1), (2, 2), (2, 3)}


def _scenario(store, fleet):
    for _ in range(3):
        fleet.host(vcpu=4)
    builds = [store.create_build(new_build(instances=2, num_alternates=2)),
              store.create_build(new_build(instances=1, num_alternates=2))]
    uuids = [i.uuid for b in builds for i in b.instances]
    return [b.id for b in builds], {u: n for n, u in enumerate(uuids)}


def _check_settled(store, build_ids):
    instances = [i for b in build_ids for i in store.get_build(b).instances]
    assert {i.state for i in instances} <= {InstanceState.ACTIVE, InstanceState.ERROR}, instances
    for instance in instances:
        held = allocations.holdings(store.get_consumer_allocations(instance.uuid))
        assert held == ({instance.host: {"VCPU": 1}} if instance.state is InstanceState.ACTIVE else {})
    used = sum(store.get_provider_usages(p.uuid).usages.get("VCPU", 0) for p in store.list_providers(ProviderQuery()))
    assert used == sum(i.state is InstanceState.ACTIVE for i in instances)
    assert store.list_build_work(10) == []
    return instances


def test_the_scenario_without_a_kill(store, fleet):
    build_ids, order = _scenario(store, fleet)
    _run(store, Conductor(make_scheduler(store), owner="alone"), build_ids, FAILING, order)
    instances = _check_settled(store, build_ids)
    states = {order[i.uuid]: i.state for i in instances}
    assert states == {0: InstanceState.ACTIVE, 1: InstanceState.ACTIVE, 2: InstanceState.ERROR}


# The scenario's conductor writes this many times (checked below); it is
# killed before each one in turn.
WRITES_IN_SCENARIO = 30


@pytest.mark.parametrize("dies_at", range(1, WRITES_IN_SCENARIO + 1))
def test_killed_at_any_write_a_second_conductor_finishes(store, fleet, dies_at):
    build_ids, order = _scenario(store, fleet)
    now = [1000.0]
    dying = DyingStore(store, dies_at)
    first = Conductor(make_scheduler(dying), owner="first", clock=lambda: now[0])
    try:
        _run(store, first, build_ids, FAILING, order)
    except Killed:
        pass
    # The first conductor's leases expire; another one takes over.
    now[0] += 3600
    second = Conductor(make_scheduler(store), owner="second", clock=lambda: now[0])
    _run(store, second, build_ids, FAILING, order)
    _check_settled(store, build_ids)


def test_the_kills_above_cover_every_write_of_the_run(store, fleet):
    build_ids, order = _scenario(store, fleet)
    counting = DyingStore(store, dies_at=10**9)
    _run(store, Conductor(make_scheduler(counting), owner="counted"), build_ids, FAILING, order)
    assert counting.writes <= WRITES_IN_SCENARIO
