"""The root document and HTTP behaviour shared by every route."""

from __future__ import annotations

import re

from tests.api.client import error_of, new_uuid

HTTP_DATE = re.compile(r"^\w+, \d+ \w+ \d{4} [\d:]+ GMT$")
REQUEST_ID = re.compile(r"^req-[0-9a-f-]{36}$")


def test_root_needs_no_token_and_lists_versions(api):
    response = api.get("/", token=None, version=None)
    assert response.status_code == 200
    assert response.json() == {
        "versions": [{
            "id": "v1.0", "min_version": "1.0", "max_version": "1.39",
            "status": "CURRENT", "links": [{"rel": "self", "href": ""}],
        }]
    }
    assert response.headers["openstack-api-version"] == "placement 1.0"
    assert response.headers["vary"] == "openstack-api-version"
    assert REQUEST_ID.match(response.headers["x-openstack-request-id"])


def test_latest_is_1_39(api):
    assert api.get("/", version="latest").headers["openstack-api-version"] == "placement 1.39"


def test_cache_headers_from_1_15(api):
    assert "last-modified" not in api.get("/", version="1.14").headers
    response = api.get("/", version="1.15")
    assert response.headers["cache-control"] == "no-cache"
    assert HTTP_DATE.match(response.headers["last-modified"])


def test_unsupported_version_is_406_with_the_range(api):
    response = api.get("/", version="0.5")
    assert response.status_code == 406
    error = error_of(response)
    assert "Unacceptable version header: 0.5" in error["detail"]
    assert (error["min_version"], error["max_version"]) == ("1.0", "1.39")
    assert "openstack-api-version" not in response.headers


def test_malformed_version_is_400(api):
    response = api.get("/", version="pony.horse")
    assert response.status_code == 400
    assert "invalid version string: pony.horse" in error_of(response)["detail"]


def test_unknown_path_is_404_in_the_error_format(api):
    response = api.get("/barnabas", version="1.23")
    assert response.status_code == 404
    error = error_of(response)
    assert error["title"] == "Not Found"
    assert error["code"] == "placement.undefined_code"
    assert REQUEST_ID.match(error["request_id"])
    assert response.headers["openstack-api-version"] == "placement 1.23"


def test_error_code_only_from_1_23(api):
    assert "code" not in error_of(api.get("/barnabas", version="1.22"))


def test_wrong_method_is_405_with_allow(api):
    response = api.delete("/resource_providers")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert "The method DELETE is not allowed" in error_of(response)["detail"]


def test_trailing_slash_is_another_path(api):
    assert api.get("/resource_providers/").status_code == 404


def test_accept_excluding_json_is_406(api):
    response = api.get("/resource_providers", headers={"accept": "text/plain"})
    assert response.status_code == 406
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert api.get("/resource_providers", headers={"accept": browser}).status_code == 200


def test_errors_in_html_when_the_client_prefers_it(api):
    response = api.get(f"/{new_uuid()}", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "The resource could not be found" in response.text


def test_wrong_content_type_is_415(api):
    response = api.post(
        "/resource_providers", content=b"a provider please",
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 415


def test_body_without_content_type_is_400(api):
    response = api.client.post(
        "/resource_providers", content=b"a provider please",
        headers={"x-auth-token": "admin"},
    )
    assert response.status_code == 400
    assert "content-type header required" in error_of(response)["detail"]


def test_put_without_body_is_415_media_type_none(api):
    response = api.put(f"/resource_providers/{new_uuid()}")
    assert response.status_code == 415
    assert "The media type None is not supported, use application/json" in response.text


def test_malformed_json_is_400(api):
    response = api.post(
        "/resource_providers", content=b'{"foo": }',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "Malformed JSON:" in error_of(response)["detail"]


def test_mounted_under_a_prefix(make_api):
    from berth.config import ApiSettings

    api = make_api(api=ApiSettings(root_path="/placement"))
    assert api.get("/placement", token=None).json()["versions"][0]["id"] == "v1.0"
    created = api.post("/placement/resource_providers", {"name": "mounted"})
    assert created.status_code == 200
    assert created.headers["location"].endswith(f"/placement/resource_providers/{created.json()['uuid']}")
    assert created.json()["links"][0]["href"].startswith("/placement/resource_providers/")
    # The unprefixed paths keep working.
    assert api.get("/resource_providers").status_code == 200


def test_unexpected_exception_is_500_in_the_error_format(api, store, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "list_providers", broken)
    response = api.get("/resource_providers")
    assert response.status_code == 500
    assert "disk on fire" in error_of(response)["detail"]
    assert REQUEST_ID.match(response.headers["x-openstack-request-id"])
