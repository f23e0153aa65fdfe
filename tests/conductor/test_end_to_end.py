"""Builds end to end over HTTP: a real ``berth serve``, ``berth conductor``
and ``berth agent`` processes with the fake driver, on 127.0.0.1, stopped
by PID. The fake driver decides each attempt by a seeded hash of the
instance and the attempt number, and the tests name their instances, so
every run sees the same failures."""

from __future__ import annotations

import time

import pytest

from tests.conductor.fleet import DriverSpec, Fleet, HostSpec, instance_uuids


def _hosts(cell: str, count: int) -> list[HostSpec]:
    return [HostSpec(f"{cell}-host-{n}", cell) for n in range(count)]


def _instances(builds: list[dict]) -> list[dict]:
    return [i for b in builds for i in b["instances"]]


def _assert_nothing_leaks(fleet: Fleet, instances: list[dict]) -> None:
    """Usage is exactly one VCPU per ACTIVE instance; the others hold nothing."""
    active = [i for i in instances if i["state"] == "ACTIVE"]
    assert fleet.vcpu_used() == len(active)
    for instance in instances:
        held = fleet.allocations_of(instance["uuid"])
        if instance["state"] == "ACTIVE":
            assert list(held) == [instance["host"]]
        else:
            assert held == {}


@pytest.fixture
def make_fleet(tmp_path):
    fleets: list[Fleet] = []

    def make(hosts, driver=DriverSpec(), conductors=1, lease_ttl=30.0, attempt_timeout=600.0, name="fleet") -> Fleet:
        workdir = tmp_path / f"{name}-{len(fleets)}"
        workdir.mkdir()
        fleet = Fleet(workdir, hosts, driver, lease_ttl=lease_ttl, attempt_timeout=attempt_timeout)
        fleets.append(fleet)
        return fleet.start(conductors)

    yield make
    for fleet in fleets:
        fleet.stop()


def test_builds_succeed(make_fleet):
    fleet = make_fleet(_hosts("c1", 3))
    builds = fleet.wait_settled([fleet.submit(4, 1), fleet.submit(1, 0)])
    instances = _instances(builds)
    assert [b["state"] for b in builds] == ["ACTIVE", "ACTIVE"]
    assert all(i["state"] == "ACTIVE" and [a["outcome"] for a in i["attempts"]] == ["succeeded"] for i in instances)
    _assert_nothing_leaks(fleet, instances)


def test_failed_builds_are_retried_on_alternates_of_the_same_cell(make_fleet):
    hosts = _hosts("c1", 3) + _hosts("c2", 3)
    cell_of = {Fleet.root(h): h.cell for h in hosts}
    fleet = make_fleet(hosts, DriverSpec(failure_rate=0.5, seed=11))
    uuids = instance_uuids(12, "same-cell")
    builds = fleet.wait_settled([fleet.submit(12, 2, uuids)])
    instances = _instances(builds)
    retried = [i for i in instances if len(i["attempts"]) > 1]
    assert retried, "a failure rate of 0.5 over 12 instances retried none"
    for instance in instances:
        cells = {cell_of[a["host"]] for a in instance["attempts"]}
        assert len(cells) == 1
        hosts_tried = [a["host"] for a in instance["attempts"]]
        assert len(set(hosts_tried)) == len(hosts_tried)
        assert all(a["outcome"] == "failed" for a in instance["attempts"][:-1])
        assert instance["attempts"][-1]["outcome"] == ("succeeded" if instance["state"] == "ACTIVE" else "failed")
    _assert_nothing_leaks(fleet, instances)


def test_alternates_exhausted_is_error_with_every_attempt(make_fleet):
    fleet = make_fleet(_hosts("c1", 3), DriverSpec(failure_rate=1.0, seed=3))
    [build] = fleet.wait_settled([fleet.submit(2, 2)])
    assert build["state"] == "ERROR"
    for instance in build["instances"]:
        assert instance["state"] == "ERROR" and instance["host"] is None
        attempts = instance["attempts"]
        assert [a["number"] for a in attempts] == [1, 2, 3]
        assert all(a["outcome"] == "failed" and a["reason"] and a["finished_at"] for a in attempts)
        assert len({a["host"] for a in attempts}) == 3
        for attempt in attempts:
            assert f"attempt {attempt['number']} on {attempt['host']}" in instance["fault"]
    _assert_nothing_leaks(fleet, build["instances"])


def test_error_fraction_falls_as_alternates_grow(make_fleet):
    """The issue's curve: the fake driver fails 10% of attempts; the same
    instances (same uuids, so the same draws) are built with 0..3
    alternates, each on a fleet of its own. An instance in ERROR with k
    alternates failed its first k+1 attempts, so it is in ERROR with fewer
    alternates too: the fraction can only fall."""
    uuids = instance_uuids(60, "curve")
    fractions = []
    for alternates in range(4):
        fleet = make_fleet(_hosts("c1", 5), DriverSpec(failure_rate=0.1, seed=2026), name=f"k{alternates}")
        builds = fleet.wait_settled([fleet.submit(20, alternates, uuids[n:n + 20]) for n in range(0, 60, 20)])
        instances = _instances(builds)
        fractions.append(sum(i["state"] == "ERROR" for i in instances) / len(instances))
        _assert_nothing_leaks(fleet, instances)
        fleet.stop()
    assert fractions[0] > 0
    assert fractions[0] > fractions[1] >= fractions[2] >= fractions[3], fractions


def test_conductors_killed_mid_build_are_finished_by_their_restarts(make_fleet):
    """SIGKILL the conductor three times while builds are under way (each
    time a moment later in the work), starting a new one after each kill;
    the last one finishes everything. A lease of 2 s lets the new conductor
    take the dead one's builds soon."""
    fleet = make_fleet(
        _hosts("c1", 4), DriverSpec(failure_rate=0.3, seed=5, latency=0.05), lease_ttl=2.0,
    )
    build_ids = [fleet.submit(5, 2) for _ in range(6)]
    for delay in (0.0, 0.2, 0.5):
        _wait_for_attempts(fleet, build_ids)
        time.sleep(delay)
        fleet.conductors[-1].kill()
        build_ids.append(fleet.submit(5, 2))
        fleet.start_conductor()
    builds = fleet.wait_settled(build_ids)
    instances = _instances(builds)
    assert {i["state"] for i in instances} <= {"ACTIVE", "ERROR"}
    assert any(len(i["attempts"]) > 1 for i in instances)
    _assert_nothing_leaks(fleet, instances)


def _attempts(fleet: Fleet, build_ids: list[str]) -> int:
    return sum(len(i["attempts"]) for b in build_ids for i in fleet.build(b)["instances"])


def _wait_for_attempts(fleet: Fleet, build_ids: list[str], timeout: float = 120) -> None:
    """Until the newest conductor has started an attempt (only a conductor
    adds attempts), so that the kill lands in the middle of its work."""
    before = _attempts(fleet, build_ids)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _attempts(fleet, build_ids) > before:
            return
        time.sleep(0.02)
    raise AssertionError("the conductor started no attempt")


def test_two_conductors_share_the_work_and_one_takes_over_from_the_other(make_fleet):
    """Two conductors on one store; one is SIGKILLed mid-work and never
    restarted: the other takes its builds once their leases expire."""
    fleet = make_fleet(
        _hosts("c1", 3), DriverSpec(failure_rate=0.2, seed=8, latency=0.05), conductors=2, lease_ttl=2.0,
    )
    build_ids = [fleet.submit(3, 2) for _ in range(8)]
    _wait_for_attempts(fleet, build_ids)
    fleet.conductors[0].kill()
    build_ids += [fleet.submit(3, 2) for _ in range(2)]
    builds = fleet.wait_settled(build_ids)
    instances = _instances(builds)
    assert {i["state"] for i in instances} <= {"ACTIVE", "ERROR"}
    _assert_nothing_leaks(fleet, instances)


def test_an_agent_killed_mid_build_times_out_and_its_instances_move_on(make_fleet):
    """The agent of one host is SIGKILLed while it builds: its attempts are
    never reported, so at their deadline they failed and the instances move
    to their alternates."""
    hosts = _hosts("c1", 3)
    fleet = make_fleet(hosts, DriverSpec(latency=1.0, seed=1), attempt_timeout=3.0)
    build_ids = [fleet.submit(6, 2)]
    doomed = _first_host_building(fleet, hosts)
    fleet.agents[[Fleet.root(h) for h in hosts].index(doomed)].kill()
    builds = fleet.wait_settled(build_ids)
    instances = _instances(builds)
    timed_out = [a for i in instances for a in i["attempts"] if (a["reason"] or "").startswith("no report from")]
    assert timed_out and all(a["host"] == doomed for a in timed_out)
    assert {i["state"] for i in instances} <= {"ACTIVE", "ERROR"}
    assert all(i["host"] != doomed for i in instances if i["state"] == "ACTIVE")
    _assert_nothing_leaks(fleet, instances)


def _first_host_building(fleet: Fleet, hosts: list[HostSpec], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for host in hosts:
            if fleet.http.get(f"/builds/assignments?host={Fleet.root(host)}").json()["assignments"]:
                return Fleet.root(host)
        time.sleep(0.02)
    raise AssertionError("no host was assigned an attempt")
