"""CORS, present only when origins are configured (cors.yaml, non-cors.yaml)."""

from __future__ import annotations

import pytest

from berth.config import CorsSettings

VALID = "http://valid.example.com"


@pytest.fixture
def cors_api(make_api):
    return make_api(cors=CorsSettings(allowed_origins=(VALID,), allow_headers=("openstack-api-version",)))


def test_preflight_from_an_allowed_origin(cors_api):
    response = cors_api.request("OPTIONS", "/", token="user", version=None, headers={
        "origin": VALID, "access-control-request-method": "GET",
        "access-control-request-headers": "openstack-api-version",
    })
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == VALID
    assert response.headers["access-control-allow-headers"] == "openstack-api-version"


def test_preflight_from_another_origin(cors_api):
    response = cors_api.request("OPTIONS", "/", token="user", version=None, headers={
        "origin": "http://invalid.example.com", "access-control-request-method": "GET",
    })
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_simple_request(cors_api):
    allowed = cors_api.get("/", headers={"origin": VALID})
    assert allowed.headers["access-control-allow-origin"] == VALID
    assert "Origin" in allowed.headers["vary"]
    refused = cors_api.get("/", headers={"origin": "http://invalid.example.com"})
    assert "access-control-allow-origin" not in refused.headers


def test_without_cors_options_is_405(api):
    response = api.request("OPTIONS", "/", token="user", headers={
        "origin": VALID, "access-control-request-method": "GET"})
    assert response.status_code == 405
    assert "access-control-allow-origin" not in api.get("/", headers={"origin": VALID}).headers
