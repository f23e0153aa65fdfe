"""The assignment loop against berth's real build routes: a real server and
a real ``berth conductor`` process assign the attempts, in-process agents
run them through the fake driver. What is checked is the agent's side: each
attempt berth casts to a host is run once, by that host's agent, and berth
records exactly the outcome the fake driver decides for it. (The
conductor's own behaviour is tested with it, in its tests.)"""

from __future__ import annotations

import collections
import dataclasses
import threading

import pytest

from berth.agent.agent import Agent
from berth.agent.driver import BuildRequest, BuildResult, FailureKind, FakeDriver, FakeDriverOptions
from tests.agent.conftest import eventually, finished_build, submit_build, unique_trait

OPTIONS = FakeDriverOptions(
    failure_rate=0.4, seed=11,
    failure_kinds={FailureKind.RESOURCE_RACE: 1, FailureKind.NETWORK: 1, FailureKind.HARDWARE: 1},
)


class RecordingDriver:
    """The fake driver, remembering what it was asked and what it answered."""

    def __init__(self, host: str, calls: collections.Counter, lock: threading.Lock) -> None:
        self.fake = FakeDriver(OPTIONS, host=host)
        self.host = host
        self.calls = calls
        self.lock = lock

    def build(self, request: BuildRequest) -> BuildResult:
        with self.lock:
            self.calls[(request.instance_uuid, request.attempt, self.host)] += 1
        return self.fake.build(request)


@pytest.fixture
def agents(make_config, host_name):
    """Three hosts with a trait of their own, each with its running agent."""
    trait = unique_trait()
    calls: collections.Counter = collections.Counter()
    lock = threading.Lock()
    running = []
    for index in range(3):
        config = make_config(name=f"{host_name}-{index}", vcpu=8, memory_mb=8192,
                             cell="cell-builds", traits=[trait])
        config = dataclasses.replace(config, fake_driver=OPTIONS)
        agent = Agent(config, RecordingDriver(config.host.name, calls, lock))
        thread = threading.Thread(target=agent.run)
        thread.start()
        running.append((agent, thread))
    try:
        for agent, _ in running:
            eventually(lambda agent=agent: agent.last_sync is not None)
        yield trait, [agent for agent, _ in running], calls
    finally:
        for agent, thread in running:
            agent.stop()
        for agent, thread in running:
            thread.join(60)


def test_berth_records_the_outcome_the_driver_decided_for_every_attempt_it_cast(
    conductor, agents, http
):
    trait, hosts, calls = agents
    names = {agent.host_uuid: agent.config.host.name for agent in hosts}
    build = finished_build(http, submit_build(http, trait, instances=8, alternates=2))
    ran = [a for i in build["instances"] for a in i["attempts"] if a["host"] in names and
           (a["outcome"] == "succeeded" or a["failure_kind"] is not None)]
    assert ran
    for instance in build["instances"]:
        for attempt in instance["attempts"]:
            if attempt not in ran:
                continue
            host = names[attempt["host"]]
            # Run once, by the agent of the host berth cast it to.
            assert calls[(instance["uuid"], attempt["number"], host)] == 1
            decided = FakeDriver(OPTIONS, host=host).decide(
                BuildRequest(build["id"], instance["uuid"], attempt["number"], {}))
            assert attempt["outcome"] == decided.outcome.value
            assert attempt["reason"] == decided.reason
            assert attempt["failure_kind"] == (decided.failure_kind.value if decided.failure_kind else None)
    # Nothing was run that berth did not cast, and nothing twice.
    assert sum(calls.values()) == len(ran)
    # With 40% failing, some instances needed an alternate.
    assert any(len(i["attempts"]) > 1 for i in build["instances"])
    for agent in hosts:
        assert http.get("/builds/assignments", params={"host": agent.host_uuid}).json() == {"assignments": []}
