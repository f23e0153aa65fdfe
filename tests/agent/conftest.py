"""Agent tests: unit tests of the config, tree and fake driver, and tests
against a real ``berth serve`` process on 127.0.0.1 (one per session,
stopped by PID); each test describes hosts of its own names."""

from __future__ import annotations

import time
import uuid as uuidlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from berth.agent.config import AgentConfig, BerthConnection, LoopSettings, agent_config_from_mapping
from tests.agent.processes import BerthProcess
from tests.support.server import BerthServer

HEADERS = {"x-auth-token": "admin", "OpenStack-API-Version": "placement 1.39"}


@pytest.fixture(scope="session")
def berth_database_url(tmp_path_factory) -> str:
    return "sqlite:///" + str(tmp_path_factory.mktemp("agent-berth") / "berth.db")


@pytest.fixture(scope="session")
def berth_server(berth_database_url, tmp_path_factory) -> Iterator[BerthServer]:
    with BerthServer(berth_database_url, tmp_path_factory.mktemp("agent-berth-logs")) as server:
        yield server


@pytest.fixture(scope="session")
def conductor(berth_server, berth_database_url, tmp_path_factory) -> Iterator[BerthProcess]:
    """A ``berth conductor`` process over the session's database: it
    schedules the builds the tests submit and casts them to the agents."""
    workdir = tmp_path_factory.mktemp("agent-conductor")
    flags = ("--db", berth_database_url, "--idle-sleep", "0.05")
    with BerthProcess(workdir, "conductor", *flags) as process:
        yield process


@pytest.fixture
def http(berth_server) -> Iterator[httpx.Client]:
    """Another client of the same berth: the operator, or a rival writer."""
    with httpx.Client(base_url=berth_server.url, headers=HEADERS, timeout=30) as client:
        yield client


@pytest.fixture
def host_name() -> str:
    return f"cn-{uuidlib.uuid4().hex[:10]}"


@pytest.fixture
def make_config(berth_server, host_name) -> Callable[..., AgentConfig]:
    """An agent configuration for this test's host on the session's berth;
    keyword arguments are [host] values (``name`` too, for more hosts)."""

    def build(**host: object) -> AgentConfig:
        config = agent_config_from_mapping({"host": {"name": host_name, **host}})
        return AgentConfig(
            host=config.host,
            berth=BerthConnection(url=berth_server.url),
            loop=LoopSettings(poll_interval=0.05, resync_interval=0.2, max_backoff=0.2),
            fake_driver=config.fake_driver,
        )

    return build


def unique_trait() -> str:
    """A trait only this test's hosts have, so its builds land on them only."""
    return f"CUSTOM_AGENT_TEST_{uuidlib.uuid4().hex[:10].upper()}"


def submit_build(http: httpx.Client, trait: str, instances: int, alternates: int = 0) -> str:
    """POST /builds for ``instances`` instances needing ``trait``; its status URI."""
    answer = http.post("/builds", json={
        "request_spec": {"resources": {"VCPU": 1, "MEMORY_MB": 256}, "required": [trait],
                         "project_id": "p", "user_id": "u"},
        "num_instances": instances, "num_alternates": alternates,
    })
    assert answer.status_code == 202, answer.text
    return answer.headers["location"]


def finished_build(http: httpx.Client, location: str) -> dict:
    """The build once every instance is ACTIVE, ERROR or DELETED."""

    def finished() -> dict | None:
        build = http.get(location).json()
        done = all(i["state"] in {"ACTIVE", "ERROR", "DELETED"} for i in build["instances"])
        return build if done else None

    return eventually(finished, timeout=120)


def eventually(check: Callable[[], object], timeout: float = 60.0, every: float = 0.1) -> object:
    """Wait until ``check`` returns something true (or stops raising
    AssertionError) and return it; after ``timeout`` seconds, fail with its
    last answer."""
    deadline = time.monotonic() + timeout
    while True:
        expired = time.monotonic() > deadline
        try:
            answer = check()
        except AssertionError:
            if expired:
                raise
        else:
            if answer:
                return answer
            if expired:
                raise AssertionError(f"still {answer!r} after {timeout}s")
        time.sleep(every)
