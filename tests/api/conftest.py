"""API tests: the real app over the real SQL store, a fresh SQLite file per
test, driven in-process. ``api`` speaks Placement as an admin at the newest
microversion unless a test says otherwise."""

from __future__ import annotations

import dataclasses
import warnings

import pytest

from berth.config import ApiSettings, CorsSettings, PolicySettings, Settings
from berth.store import open_store
from tests.api.client import ApiClient


@pytest.fixture
def store(tmp_path):
    opened = open_store("sqlite:///" + str(tmp_path / "berth.db"))
    opened.upgrade()
    yield opened
    opened.close()


@pytest.fixture
def settings() -> Settings:
    """Placement's gabbi defaults: noauth2 and the legacy policy defaults."""
    return Settings(policy=PolicySettings(enforce_new_defaults=False))


@pytest.fixture
def make_api(store):
    """Build a client over an app with changed settings sections."""
    clients = []

    def build(settings: Settings | None = None, **sections) -> ApiClient:
        chosen = settings or Settings(policy=PolicySettings(enforce_new_defaults=False))
        chosen = dataclasses.replace(chosen, **sections)
        client = ApiClient.for_app(chosen, store)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def api(make_api, settings) -> ApiClient:
    return make_api(settings)


__all__ = ["ApiSettings", "CorsSettings", "PolicySettings"]

warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")
