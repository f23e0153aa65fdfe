"""The assignment loop against berth's real build routes, with a real
``berth conductor`` casting the builds: each attempt runs once however many
polls list it, a report berth answers 409 is dropped (unless berth only
lost a race for the build record), a driver that raises is a hardware
failure, and berth unreachable is waited out. Outages are injected by an
httpx transport in front of the real server."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from berth.agent.agent import Agent
from berth.agent.driver import BuildRequest, BuildResult, FailureKind
from tests.agent.conftest import eventually, finished_build, submit_build, unique_trait


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


class FaultTransport(httpx.HTTPTransport):
    """The next ``count`` requests that ``matches`` get ``fault(request)``
    (an answer, or an exception it raises) instead of reaching berth."""

    def __init__(
        self, matches: Callable[[httpx.Request], bool], count: int,
        fault: Callable[[httpx.Request], httpx.Response],
    ) -> None:
        super().__init__()
        self.matches = matches
        self.fault = fault
        self.left = count
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.matches(request):
            with self.lock:
                if self.left > 0:
                    self.left -= 1
                    return self.fault(request)
        return super().handle_request(request)


def unreachable(request: httpx.Request) -> httpx.Response:
    """Berth not there: the connection is refused."""
    raise httpx.ConnectError("connection refused", request=request)


def lost_race(request: httpx.Request) -> httpx.Response:
    """Berth's answer to a write that lost the race for the build record
    too many times: 409 placement.concurrent_update, nothing written."""
    return httpx.Response(409, json={"errors": [{
        "status": 409, "code": "placement.concurrent_update",
        "title": "Conflict", "detail": "the build changed while it was written",
    }]}, request=request)


def is_report(request: httpx.Request) -> bool:
    return request.method == "PUT" and "/attempts/" in request.url.path


def is_poll(request: httpx.Request) -> bool:
    return request.url.path == "/builds/assignments"


@pytest.fixture
def start_agent(make_config, conductor) -> Iterator[Callable[..., Agent]]:
    """Run an agent for a one-host fleet that has ``trait``."""
    running: list[tuple[Agent, threading.Thread]] = []

    def start(trait: str, driver, transport: httpx.BaseTransport | None = None) -> Agent:
        agent = Agent(make_config(vcpu=8, memory_mb=4096, traits=[trait]), driver, transport=transport)
        thread = threading.Thread(target=agent.run)
        thread.start()
        running.append((agent, thread))
        eventually(lambda: agent.last_sync is not None)
        return agent

    yield start
    for agent, _ in running:
        agent.stop()
    for agent, thread in running:
        thread.join(60)
        assert not thread.is_alive()


def attempts_of(build: dict) -> dict[tuple[str, int], dict]:
    return {(i["uuid"], a["number"]): a for i in build["instances"] for a in i["attempts"]}


def test_an_attempt_listed_by_every_poll_runs_once_and_is_reported_once(start_agent, http):
    trait = unique_trait()
    driver = GatedDriver()
    agent = start_agent(trait, driver)
    location = submit_build(http, trait, instances=3)
    eventually(lambda: len(driver.calls) == 3)
    # Listed as building while the driver holds them, polled again and again.
    polls_before = agent.builds.counts()
    assignments = http.get("/builds/assignments", params={"host": agent.host_uuid}).json()["assignments"]
    assert {(a["instance_uuid"], a["attempt"]) for a in assignments} == set(driver.calls)
    assert all(a["allocations"][agent.host_uuid]["resources"] == {"VCPU": 1, "MEMORY_MB": 256}
               for a in assignments)
    eventually(lambda: agent.builds.polls >= 10)
    assert agent.builds.counts() == polls_before
    driver.gate.set()
    build = finished_build(http, location)
    assert set(driver.calls.values()) == {1}
    assert {i["state"] for i in build["instances"]} == {"ACTIVE"}
    assert {a["reason"] for a in attempts_of(build).values()} == {"built"}
    eventually(lambda: agent.builds.counts().succeeded == 3)
    assert http.get("/builds/assignments", params={"host": agent.host_uuid}).json() == {"assignments": []}


def test_a_report_berth_answers_409_is_dropped(start_agent, http):
    trait = unique_trait()
    driver = GatedDriver()
    agent = start_agent(trait, driver)
    location = submit_build(http, trait, instances=1)
    ((instance, attempt),) = eventually(lambda: list(driver.calls))
    # The instance is deleted while the agent builds it: its attempt is over.
    build_id = location.rstrip("/").rsplit("/", 1)[1]
    assert http.delete(f"/builds/{build_id}/instances/{instance}").status_code == 204
    driver.gate.set()
    eventually(lambda: agent.builds.counts().dropped == 1)
    counts = agent.builds.counts()
    assert (counts.succeeded, counts.failed, counts.unreported) == (0, 0, 0)
    recorded = attempts_of(finished_build(http, location))[(instance, attempt)]
    assert (recorded["outcome"], recorded["reason"]) == ("failed", "instance deleted")


@pytest.mark.parametrize("fault, result, state", [
    # berth unreachable while the agent reports
    (unreachable, BuildResult.failed(FailureKind.NETWORK, "port binding failed"), "ERROR"),
    # berth lost the race for the build record (not "no longer current")
    (lost_race, BuildResult.succeeded("built after lost races"), "ACTIVE"),
], ids=["unreachable", "lost-race"])
def test_a_report_berth_did_not_take_is_sent_again_until_it_is(start_agent, http, fault, result, state):
    trait = unique_trait()
    faults = FaultTransport(is_report, 3, fault)
    driver = GatedDriver(result)
    driver.gate.set()
    agent = start_agent(trait, driver, transport=faults)
    build = finished_build(http, submit_build(http, trait, instances=1))
    assert faults.left == 0
    (instance,) = build["instances"]
    assert instance["state"] == state
    (attempt,) = instance["attempts"]
    assert (attempt["outcome"], attempt["reason"], attempt["failure_kind"]) == (
        result.outcome.value, result.reason, result.failure_kind.value if result.failure_kind else None)
    eventually(lambda: agent.builds.counts().finished == 1)
    counts = agent.builds.counts()
    assert (counts.succeeded + counts.failed, counts.dropped, counts.unreported) == (1, 0, 0)


def test_a_driver_that_raises_is_a_hardware_failure(start_agent, http):
    trait = unique_trait()
    start_agent(trait, BrokenDriver())
    build = finished_build(http, submit_build(http, trait, instances=1))
    (attempt,) = build["instances"][0]["attempts"]
    assert attempt["failure_kind"] == "hardware"
    assert "the hypervisor went away" in attempt["reason"]


def test_polls_berth_does_not_answer_are_waited_out(start_agent, http):
    trait = unique_trait()
    outage = FaultTransport(is_poll, 5, unreachable)
    driver = GatedDriver()
    driver.gate.set()
    agent = start_agent(trait, driver, transport=outage)
    build = finished_build(http, submit_build(http, trait, instances=2))
    assert outage.left == 0
    assert {i["state"] for i in build["instances"]} == {"ACTIVE"}
    eventually(lambda: agent.builds.counts().succeeded == 2)


class NoBuildRoutesTransport(httpx.HTTPTransport):
    """An older berth: no /builds routes at all."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/builds"):
            return httpx.Response(404, json={"errors": [{"status": 404, "title": "Not Found",
                                                         "detail": "The resource could not be found."}]})
        return super().handle_request(request)


def test_a_berth_without_build_routes_still_gets_the_tree_and_the_agent_polls_on(make_config, http):
    agent = Agent(make_config(vcpu=2, memory_mb=512), GatedDriver(), transport=NoBuildRoutesTransport())
    thread = threading.Thread(target=agent.run)
    thread.start()
    try:
        eventually(lambda: agent.last_sync is not None and http.get(
            f"/resource_providers/{agent.host_uuid}").status_code == 200)
        # Still looping: a deleted tree comes back.
        assert http.delete(f"/resource_providers/{agent.host_uuid}").status_code == 204
        eventually(lambda: http.get(f"/resource_providers/{agent.host_uuid}").status_code == 200)
        assert agent.builds.counts().started == 0
    finally:
        agent.stop()
        thread.join(60)
    assert not thread.is_alive()
