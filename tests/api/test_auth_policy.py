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


# Placement's rule for each operation (placement/policies/*.py and the
# handlers' context.can calls).
RULES = {
    ("GET", "/resource_classes"): "placement:resource_classes:list",
    ("POST", "/resource_classes"): "placement:resource_classes:create",
    ("GET", "/resource_classes/CUSTOM_X"): "placement:resource_classes:show",
    ("PUT", "/resource_classes/CUSTOM_X"): "placement:resource_classes:update",
    ("DELETE", "/resource_classes/CUSTOM_X"): "placement:resource_classes:delete",
    ("GET", "/resource_providers"): "placement:resource_providers:list",
    ("POST", "/resource_providers"): "placement:resource_providers:create",
    ("GET", "/resource_providers/{rp}"): "placement:resource_providers:show",
    ("PUT", "/resource_providers/{rp}"): "placement:resource_providers:update",
    ("DELETE", "/resource_providers/{rp}"): "placement:resource_providers:delete",
    ("GET", "/resource_providers/{rp}/inventories"): "placement:resource_providers:inventories:list",
    ("POST", "/resource_providers/{rp}/inventories"): "placement:resource_providers:inventories:create",
    ("PUT", "/resource_providers/{rp}/inventories"): "placement:resource_providers:inventories:update",
    ("DELETE", "/resource_providers/{rp}/inventories"): "placement:resource_providers:inventories:delete",
    ("GET", "/resource_providers/{rp}/inventories/VCPU"): "placement:resource_providers:inventories:show",
    ("PUT", "/resource_providers/{rp}/inventories/VCPU"): "placement:resource_providers:inventories:update",
    ("DELETE", "/resource_providers/{rp}/inventories/VCPU"): "placement:resource_providers:inventories:delete",
    ("GET", "/resource_providers/{rp}/usages"): "placement:resource_providers:usages",
    ("GET", "/resource_providers/{rp}/aggregates"): "placement:resource_providers:aggregates:list",
    ("PUT", "/resource_providers/{rp}/aggregates"): "placement:resource_providers:aggregates:update",
    ("GET", "/resource_providers/{rp}/allocations"): "placement:resource_providers:allocations:list",
    ("GET", "/resource_providers/{rp}/traits"): "placement:resource_providers:traits:list",
    ("PUT", "/resource_providers/{rp}/traits"): "placement:resource_providers:traits:update",
    ("DELETE", "/resource_providers/{rp}/traits"): "placement:resource_providers:traits:delete",
    ("POST", "/allocations"): "placement:allocations:manage",
    ("GET", "/allocations/{consumer}"): "placement:allocations:list",
    ("PUT", "/allocations/{consumer}"): "placement:allocations:update",
    ("DELETE", "/allocations/{consumer}"): "placement:allocations:delete",
    ("GET", "/allocation_candidates?resources=VCPU:1"): "placement:allocation_candidates:list",
    ("GET", "/traits"): "placement:traits:list",
    ("GET", "/traits/CUSTOM_X"): "placement:traits:show",
    ("PUT", "/traits/CUSTOM_X"): "placement:traits:update",
    ("DELETE", "/traits/CUSTOM_X"): "placement:traits:delete",
    ("GET", "/usages?project_id=p"): "placement:usages",
    ("POST", "/reshaper"): "placement:reshaper:reshape",
}


def _route_key(method: str, path: str) -> tuple[str, str]:
    """The route-table key an operation of RULES is served under."""
    template = path.split("?")[0].replace("{rp}", "{uuid}").replace("{consumer}", "{consumer_uuid}")
    template = template.replace("/inventories/VCPU", "/inventories/{resource_class}")
    template = template.replace("/CUSTOM_X", "/{name}")
    return method, template


def test_every_operation_has_a_rule():
    from berth.api.routes import ROUTES

    served = {(method, path) for path, methods in ROUTES.items() for method in methods}
    served.discard(("GET", "/"))  # needs no credentials
    assert {_route_key(method, path) for method, path in RULES} == served


@pytest.mark.parametrize("method,path", list(RULES))
def test_every_operation_checks_its_placement_rule(api, method, path):
    """A user without roles is refused by the operation's own rule, before
    anything is looked up or validated."""
    url = path.format(rp="2b9aeed0-0c62-4f5a-a0c1-7d0e1ddf8f41", consumer="5c6b1f6e-3b5b-4b2c-9d7e-0e3a6f1c2d4b")
    body = {} if method in ("PUT", "POST") else None
    response = api.request(method, url, body, token="user")
    assert response.status_code == 403, response.text
    assert f"Policy does not allow {RULES[method, path]} to be performed." in error_of(response)["detail"]
