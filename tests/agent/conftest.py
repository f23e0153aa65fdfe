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
from tests.support.server import BerthServer

HEADERS = {"x-auth-token": "admin", "OpenStack-API-Version": "placement 1.39"}


@pytest.fixture(scope="session")
def berth_database_url(tmp_path_factory) -> str:
    return "sqlite:///" + str(tmp_path_factory.mktemp("agent-berth") / "berth.db")


@pytest.fixture(scope="session")
def berth_server(berth_database_url, tmp_path_factory) -> Iterator[BerthServer]:
    with BerthServer(berth_database_url, tmp_path_factory.mktemp("agent-berth-logs")) as server:
        yield server


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
    keyword arguments are [host] values."""

    def build(**host: object) -> AgentConfig:
        config = agent_config_from_mapping({"host": {"name": host_name, **host}})
        return AgentConfig(
            host=config.host,
            berth=BerthConnection(url=berth_server.url),
            loop=LoopSettings(poll_interval=0.05, resync_interval=0.2, max_backoff=0.2),
            fake_driver=config.fake_driver,
        )

    return build


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
