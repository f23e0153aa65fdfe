"""The assignment loop: each attempt assigned to the host runs once through
the driver and its outcome is reported; a 409 drops it; berth unreachable
is waited out. The two build routes are faked in front of a real berth
(fake_builds.py); everything else the agent sends reaches the server."""

from __future__ import annotations

import collections
import threading

import pytest

from berth.agent.agent import Agent
from berth.agent.builds import BuildRunner
from berth.agent.client import BerthClient
from berth.agent.driver import BuildRequest, BuildResult, FailureKind, FakeDriver, FakeDriverOptions
from berth.agent.tree import plan_tree
from tests.agent.conftest import eventually
from tests.agent.fake_builds import BuildRoutesTransport, FakeBuilds


class GatedDriver:
    """Counts the builds it is asked for and holds them until the gate opens."""

    def __init__(self, result: BuildResult | None = None) -> None:
        self.gate = threading.Event()
        self.calls: collections.Counter = collections.Counter()
        self.lock = threading.Lock()
        self.result = result or BuildResult.succeeded("built")

    def build(self, request: BuildRequest) -> BuildResult:
        with self.lock:
            self.calls[(request.instance_uuid, request.attempt)] += 1
        self.gate.wait(60)
        return self.result


class BrokenDriver:
    def build(self, request: BuildRequest) -> BuildResult:
        raise RuntimeError("the hypervisor went away")


@pytest.fixture
def builds() -> FakeBuilds:
    return FakeBuilds()


@pytest.fixture
def runner_for(make_config, builds):
    made = []

    def build(driver, workers: int = 4) -> BuildRunner:
        config = make_config(vcpu=8, memory_mb=4096)
        client = BerthClient(config.berth, transport=BuildRoutesTransport(builds), max_backoff=0.05)
        runner = BuildRunner(client, driver, plan_tree(config.host).root.uuid, workers)
        made.append((runner, client))
        return runner

    yield build
    for runner, client in made:
        runner.shutdown()
        client.close()


def test_an_attempt_listed_by_every_poll_runs_once_and_is_reported_once(runner_for, builds):
    driver = GatedDriver()
    runner = runner_for(driver)
    entries = [builds.assign(runner.host_uuid) for _ in range(3)]
    builds.assign(runner.host_uuid, instance_uuid=entries[0]["instance_uuid"], attempt=2)
    assert runner.poll() == 4
    eventually(lambda: len(driver.calls) == 4)
    for _ in range(5):
        assert runner.poll() == 0
    driver.gate.set()
    eventually(lambda: runner.counts().finished == 4)
    assert set(driver.calls.values()) == {1}
    assert len(builds.reports) == 4
    assert all(r.body == {"outcome": "succeeded", "reason": "built", "failure_kind": None}
               for r in builds.reports)
    assert runner.counts().succeeded == 4


def test_reports_carry_the_fake_drivers_reproducible_outcomes(runner_for, builds):
    options = FakeDriverOptions(failure_rate=0.5, seed=3)
    runner = runner_for(FakeDriver(options, host="cn"), workers=3)
    requests = [builds.assign(runner.host_uuid) for _ in range(20)]
    runner.poll()
    eventually(lambda: runner.counts().finished == 20)
    judge = FakeDriver(options, host="cn")
    expected = {}
    for entry in requests:
        result = judge.decide(BuildRequest(entry["build_id"], entry["instance_uuid"], 1, {}))
        expected[(entry["instance_uuid"], 1)] = {
            "outcome": result.outcome.value, "reason": result.reason,
            "failure_kind": result.failure_kind.value if result.failure_kind else None,
        }
    assert builds.reported() == expected
    assert {body["outcome"] for body in expected.values()} == {"succeeded", "failed"}
    counts = runner.counts()
    assert counts.failed == sum(b["outcome"] == "failed" for b in expected.values())


def test_a_report_answered_409_is_dropped_not_retried(runner_for, builds):
    runner = runner_for(GatedDriver())
    runner.driver.gate.set()
    stale = builds.assign(runner.host_uuid)
    builds.superseded.add((stale["instance_uuid"], 1))
    fine = builds.assign(runner.host_uuid)
    runner.poll()
    eventually(lambda: runner.counts().finished == 2)
    assert builds.refused == [(stale["instance_uuid"], 1)]
    assert list(builds.reported()) == [(fine["instance_uuid"], 1)]
    assert (runner.counts().dropped, runner.counts().succeeded) == (1, 1)


def test_a_report_berth_did_not_receive_is_sent_again_until_it_is(runner_for, builds):
    runner = runner_for(GatedDriver(BuildResult.failed(FailureKind.NETWORK, "port binding failed")))
    runner.driver.gate.set()
    entry = builds.assign(runner.host_uuid)
    builds.unreachable_reports = 4
    runner.poll()
    eventually(lambda: runner.counts().finished == 1)
    assert builds.unreachable_reports == 0
    assert builds.reported() == {(entry["instance_uuid"], 1): {
        "outcome": "failed", "reason": "port binding failed", "failure_kind": "network"}}


def test_a_driver_that_raises_reports_a_hardware_failure(runner_for, builds):
    runner = runner_for(BrokenDriver())
    entry = builds.assign(runner.host_uuid)
    runner.poll()
    eventually(lambda: runner.counts().finished == 1)
    body = builds.reported()[(entry["instance_uuid"], 1)]
    assert body["outcome"] == "failed" and body["failure_kind"] == "hardware"
    assert "the hypervisor went away" in body["reason"]


def test_the_agent_writes_its_tree_and_runs_builds_through_berth_outages(make_config, builds, http):
    config = make_config(vcpu=8, memory_mb=4096)
    builds.unreachable_polls = 3
    agent = Agent(config, transport=BuildRoutesTransport(builds))
    first = builds.assign(agent.host_uuid)
    thread = threading.Thread(target=agent.run)
    thread.start()
    try:
        eventually(lambda: (first["instance_uuid"], 1) in builds.reported())
        assert builds.polls > 3
        second = builds.assign(agent.host_uuid, attempt=2, instance_uuid=first["instance_uuid"])
        eventually(lambda: (second["instance_uuid"], 2) in builds.reported())
        assert http.get(f"/resource_providers/{agent.host_uuid}").status_code == 200
    finally:
        agent.stop()
        thread.join(60)
    assert not thread.is_alive()
    assert agent.builds.counts().succeeded == 2
