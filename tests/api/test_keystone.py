"""auth_strategy "keystone": tokens validated by a (fake) Keystone."""

from __future__ import annotations

import httpx
import pytest

from berth.config import ApiSettings, PolicySettings, Settings

KEYSTONE = "http://keystone.test/identity"
TOKENS = {
    "admin-token": {"user": {"id": "u1"}, "project": {"id": "p1"}, "roles": [{"name": "admin"}],
                    "expires_at": "2999-01-01T00:00:00.000000Z"},
    "reader-token": {"user": {"id": "u2"}, "project": {"id": "p2"}, "roles": [{"name": "reader"}]},
    "system-token": {"user": {"id": "u3"}, "system": {"all": True}, "roles": [{"name": "admin"}]},
}


@pytest.fixture
def keystone_calls():
    return []


@pytest.fixture
def api(make_api, keystone_calls):
    client = make_api(Settings(
        api=ApiSettings(auth_strategy="keystone", keystone_url=KEYSTONE),
        policy=PolicySettings(enforce_new_defaults=True),
    ))

    def validate(request: httpx.Request) -> httpx.Response:
        keystone_calls.append(request)
        assert request.url.path == "/identity/v3/auth/tokens"
        token = request.headers["x-subject-token"]
        if token not in TOKENS:
            return httpx.Response(404, json={"error": {"code": 404}})
        return httpx.Response(200, json={"token": TOKENS[token]})

    authenticator = client.client.app.state.authenticator
    authenticator.client = httpx.AsyncClient(transport=httpx.MockTransport(validate))
    return client


def test_valid_token_is_accepted_and_cached(api, keystone_calls):
    assert api.get("/resource_providers", token="admin-token").status_code == 200
    assert api.get("/resource_providers", token="admin-token").status_code == 200
    assert len(keystone_calls) == 1


def test_roles_come_from_the_token(api):
    assert api.get("/resource_providers", token="reader-token").status_code == 403
    assert api.get("/usages?project_id=p2", token="reader-token").status_code == 200
    assert api.get("/resource_providers", token="system-token").status_code == 403


def test_invalid_or_missing_token_is_401(api):
    for token in ("bogus", None):
        response = api.get("/resource_providers", token=token)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == 401
        assert response.headers["www-authenticate"] == f'Keystone uri="{KEYSTONE}"'
    assert api.get("/", token=None).status_code == 200


def test_noauth2_tokens_mean_nothing(api):
    assert api.get("/resource_providers", token="admin").status_code == 401


def test_unreachable_keystone_is_503(api):
    def down(request):
        raise httpx.ConnectError("refused")

    api.client.app.state.authenticator.client = httpx.AsyncClient(transport=httpx.MockTransport(down))
    assert api.get("/resource_providers", token="admin-token").status_code == 503
