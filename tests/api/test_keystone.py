"""auth_strategy "keystone": keystonemiddleware's auth_token against a
Keystone v3 served over HTTP on 127.0.0.1 (tests/api/fake_keystone.py, a
process of its own started for this module and stopped by its PID)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from berth.config import ApiSettings, KeystoneAuthtokenSettings, PolicySettings, Settings
from tests.api.fake_keystone import SERVICE_USER

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_URI = "https://identity.example.com/v3"


@pytest.fixture(scope="module")
def keystone_url():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.api.fake_keystone"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        first_line = process.stdout.readline()
        assert first_line.startswith("port "), first_line
        yield f"http://127.0.0.1:{int(first_line.split()[1])}"
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        process.stdout.close()


def validations(keystone_url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{keystone_url}/_validations", timeout=5) as answer:
        return json.load(answer)


def keystone_settings(auth_url: str, **changes) -> Settings:
    username, password = SERVICE_USER
    options = dict(
        auth_url=f"{auth_url}/v3", username=username, password=password,
        www_authenticate_uri=PUBLIC_URI, http_request_max_retries=0,
    )
    return Settings(
        api=ApiSettings(auth_strategy="keystone"),
        keystone_authtoken=KeystoneAuthtokenSettings(**{**options, **changes}),
        policy=PolicySettings(enforce_new_defaults=True),
    )


@pytest.fixture
def api(make_api, keystone_url):
    return make_api(keystone_settings(keystone_url))


def test_valid_token_is_accepted(api):
    response = api.get("/resource_providers", token="admin-token")
    assert response.status_code == 200, response.text
    created = api.post("/resource_providers", {"name": "by-keystone"}, token="admin-token")
    assert created.status_code == 200


def test_service_role_is_honoured(api):
    assert api.get("/resource_providers", token="service-user-token").status_code == 200
    body = {"inventories": {}, "allocations": {}}
    # Past policy (service only under the new defaults), refused by the schema.
    assert api.post("/reshaper", body, token="service-user-token").status_code == 400
    assert api.post("/reshaper", body, token="admin-token").status_code == 403


def test_roles_and_project_come_from_the_token(api):
    assert api.get("/resource_providers", token="reader-token").status_code == 403
    assert api.get("/usages?project_id=p-reader", token="reader-token").status_code == 200
    assert api.get("/usages?project_id=p-admin", token="reader-token").status_code == 403


def test_headers_from_the_client_cannot_add_roles(api):
    spoofed = {"x-roles": "admin", "x-project-id": "p-admin", "x-user-id": "u-admin",
               "x-identity-status": "Confirmed"}
    response = api.get("/resource_providers", token="reader-token", headers=spoofed)
    assert response.status_code == 403
    assert api.get("/resource_providers", token=None, headers=spoofed).status_code == 401


def test_system_scoped_token_is_refused_on_project_rules(api):
    assert api.get("/resource_providers", token="system-admin-token").status_code == 403


@pytest.mark.parametrize("token", ["bogus-token", "expired-token", None])
def test_invalid_expired_or_missing_token_is_401(api, token):
    response = api.get("/resource_providers", token=token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Keystone uri="{PUBLIC_URI}"'
    assert response.json()["error"] == {
        "code": 401, "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }
    assert "x-openstack-request-id" in response.headers


def test_root_needs_no_token(api):
    assert api.get("/", token=None).status_code == 200
    assert api.get("/", token="bogus-token").status_code == 200


def test_noauth2_tokens_mean_nothing(api):
    assert api.get("/resource_providers", token="admin").status_code == 401


def test_validated_tokens_are_cached(make_api, keystone_url):
    api = make_api(keystone_settings(keystone_url))
    before = validations(keystone_url).get("admin-token", 0)
    for _ in range(3):
        assert api.get("/resource_providers", token="admin-token").status_code == 200
    assert validations(keystone_url)["admin-token"] == before + 1


def test_cache_can_be_turned_off(make_api, keystone_url):
    api = make_api(keystone_settings(keystone_url, token_cache_time=-1))
    before = validations(keystone_url).get("reader-token", 0)
    for _ in range(2):
        assert api.get("/usages?project_id=p-reader", token="reader-token").status_code == 200
    assert validations(keystone_url)["reader-token"] == before + 2


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_keystone_is_503(make_api):
    api = make_api(keystone_settings(f"http://127.0.0.1:{_closed_port()}"))
    response = api.get("/resource_providers", token="admin-token")
    assert response.status_code == 503
    assert "The Keystone service is temporarily unavailable." in response.text


def test_missing_service_credentials_are_a_startup_error(store):
    from tests.api.client import ApiClient

    settings = Settings(api=ApiSettings(auth_strategy="keystone"))
    with pytest.raises(ValueError, match="auth_url, username, password"):
        ApiClient.for_app(settings, store)
