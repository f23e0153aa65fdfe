"""noauth2 credentials and Placement's policy rules, legacy and new."""

from __future__ import annotations

import pytest

from berth.config import PolicySettings, Settings
from tests.api.client import error_of


def test_no_token_is_401_except_at_the_root(api):
    response = api.get("/resource_providers", token=None)
    assert response.status_code == 401
    assert response.json()["title"] == "Unauthorized"
    assert api.get("/", token=None).status_code == 200


def test_unknown_path_without_token_is_401(api):
    assert api.get("/barnabas", token=None).status_code == 401


def test_a_user_without_roles_is_refused(api):
    response = api.get("/resource_providers", token="user")
    assert response.status_code == 403
    assert "placement:resource_providers:list" in error_of(response)["detail"]
    assert "vary" not in response.headers


@pytest.mark.parametrize("roles,status", [("service", 200), ("admin", 200), ("reader", 403)])
def test_roles_header(api, roles, status):
    response = api.get("/resource_providers", token="user", headers={"x-roles": roles})
    assert response.status_code == status


def test_system_scoped_tokens_are_refused(api):
    response = api.get(
        "/resource_providers", token="user",
        headers={"x-roles": "admin", "openstack-system-scope": "all"},
    )
    assert response.status_code == 403


def test_reshaper_is_service_only_with_new_defaults(make_api):
    strict = make_api(policy=PolicySettings(enforce_new_defaults=True))
    body = {"inventories": {}, "allocations": {}}
    assert strict.post("/reshaper", body).status_code == 403
    as_service = strict.post("/reshaper", body, token="user", headers={"x-roles": "service"})
    assert as_service.status_code == 400  # past policy, refused by the schema


def test_reshaper_allows_admin_with_legacy_defaults(api):
    response = api.post("/reshaper", {"inventories": {}, "allocations": {}})
    assert response.status_code == 400


def test_project_reader_sees_only_its_own_usages(make_api):
    strict = make_api(policy=PolicySettings(enforce_new_defaults=True))
    reader = {"x-roles": "reader", "x-project-id": "p1"}
    assert strict.get("/usages?project_id=p1", token="user", headers=reader).status_code == 200
    assert strict.get("/usages?project_id=p2", token="user", headers=reader).status_code == 403


def test_policy_file_overrides_a_rule(make_api, tmp_path):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"placement:resource_providers:list": "@"\n')
    api = make_api(policy=PolicySettings(enforce_new_defaults=False, file=str(policy_file)))
    assert api.get("/resource_providers", token="user").status_code == 200
    assert api.post("/resource_providers", {"name": "x"}, token="user").status_code == 403


def test_missing_policy_file_is_a_startup_error(store, tmp_path):
    from tests.api.client import ApiClient

    with pytest.raises(FileNotFoundError):
        ApiClient.for_app(Settings(policy=PolicySettings(file=str(tmp_path / "none.yaml"))), store)
