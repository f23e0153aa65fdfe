"""/resource_providers/{uuid}/inventories[/{resource_class}]."""

from __future__ import annotations

import pytest

from tests.api.client import error_of, new_uuid

DEFAULTS = {"reserved": 0, "min_unit": 1, "max_unit": 2147483647, "step_size": 1, "allocation_ratio": 1.0}


@pytest.fixture
def rp(api) -> str:
    return api.create_provider()["uuid"]


def test_put_all_sets_defaults_and_bumps_generation(api, rp):
    response = api.put(
        f"/resource_providers/{rp}/inventories",
        {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}},
    )
    assert response.status_code == 200
    assert response.json() == {
        "resource_provider_generation": 1,
        "inventories": {"VCPU": {"total": 8, **DEFAULTS}},
    }
    assert api.get(f"/resource_providers/{rp}/inventories").json() == response.json()


def test_put_all_with_stale_generation_is_409(api, rp):
    api.set_inventory(rp, VCPU=8)
    response = api.put(
        f"/resource_providers/{rp}/inventories",
        {"resource_provider_generation": 0, "inventories": {}},
    )
    assert response.status_code == 409
    assert error_of(response)["code"] == "placement.concurrent_update"


def test_put_all_unknown_class_is_400(api, rp):
    response = api.put(
        f"/resource_providers/{rp}/inventories",
        {"resource_provider_generation": 0, "inventories": {"CUSTOM_NOPE": {"total": 1}}},
    )
    assert response.status_code == 400
    assert "Unknown resource class in inventory" in error_of(response)["detail"]


def test_post_one_answers_201_with_location(api, rp):
    response = api.post(f"/resource_providers/{rp}/inventories", {"resource_class": "DISK_GB", "total": 100})
    assert response.status_code == 201
    assert response.headers["location"].endswith(f"/resource_providers/{rp}/inventories/DISK_GB")
    assert response.headers["location"].startswith("http")
    assert response.json() == {"total": 100, **DEFAULTS, "resource_provider_generation": 1}
    again = api.post(f"/resource_providers/{rp}/inventories", {"resource_class": "DISK_GB", "total": 100})
    assert again.status_code == 409


def test_get_one_and_missing_class(api, rp):
    api.set_inventory(rp, VCPU=8)
    response = api.get(f"/resource_providers/{rp}/inventories/VCPU")
    assert response.json() == {"total": 8, **DEFAULTS, "resource_provider_generation": 1}
    missing = api.get(f"/resource_providers/{rp}/inventories/DISK_GB")
    assert missing.status_code == 404
    assert f"No inventory of class DISK_GB for {rp}" in error_of(missing)["detail"]


def test_put_one(api, rp):
    api.set_inventory(rp, VCPU=8)
    path = f"/resource_providers/{rp}/inventories/VCPU"
    response = api.put(path, {"resource_provider_generation": 1, "total": 16})
    assert response.status_code == 200
    assert response.json()["total"] == 16 and response.json()["resource_provider_generation"] == 2
    stale = api.put(path, {"resource_provider_generation": 1, "total": 16})
    assert error_of(stale)["code"] == "placement.concurrent_update"
    absent = api.put(f"/resource_providers/{rp}/inventories/DISK_GB",
                     {"resource_provider_generation": 2, "total": 1})
    assert absent.status_code == 400
    assert "No inventory record with resource class" in error_of(absent)["detail"]


def test_delete_one(api, rp):
    api.set_inventory(rp, VCPU=8, DISK_GB=10)
    assert api.delete(f"/resource_providers/{rp}/inventories/VCPU").status_code == 204
    assert list(api.get(f"/resource_providers/{rp}/inventories").json()["inventories"]) == ["DISK_GB"]
    again = api.delete(f"/resource_providers/{rp}/inventories/VCPU")
    assert again.status_code == 404
    assert "No inventory of class VCPU found for delete" in error_of(again)["detail"]


def test_delete_all_from_1_5(api, rp):
    api.set_inventory(rp, VCPU=8)
    assert api.delete(f"/resource_providers/{rp}/inventories", version="1.4").status_code == 405
    assert api.delete(f"/resource_providers/{rp}/inventories", version="1.5").status_code == 204
    assert api.get(f"/resource_providers/{rp}/inventories").json()["inventories"] == {}


@pytest.mark.parametrize("version,status", [("1.25", 400), ("1.26", 200)])
def test_reserved_may_equal_total_from_1_26(api, rp, version, status):
    response = api.put(
        f"/resource_providers/{rp}/inventories",
        {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 4, "reserved": 4}}},
        version=version,
    )
    assert response.status_code == status


def test_reserved_above_total_is_400(api, rp):
    response = api.post(f"/resource_providers/{rp}/inventories",
                        {"resource_class": "VCPU", "total": 4, "reserved": 5})
    assert response.status_code == 400
    assert "The reserved value is greater than total." in error_of(response)["detail"]


def test_removing_a_class_in_use_is_409_inventory_inuse(api, rp):
    api.set_inventory(rp, VCPU=8)
    assert api.allocate(new_uuid(), {rp: {"VCPU": 2}}).status_code == 204
    response = api.delete(f"/resource_providers/{rp}/inventories")
    assert response.status_code == 409
    assert error_of(response)["code"] == "placement.inventory.inuse"
    assert api.get(f"/resource_providers/{rp}/inventories/VCPU").status_code == 200


def test_schema_limits(api, rp):
    response = api.post(f"/resource_providers/{rp}/inventories", {"resource_class": "VCPU", "total": 0})
    assert "JSON does not validate: 0 is less than the minimum of 1" in error_of(response)["detail"]
    too_big = api.post(f"/resource_providers/{rp}/inventories", {"resource_class": "VCPU", "total": 2**31})
    assert "Failed validating 'maximum'" in error_of(too_big)["detail"]


def test_unknown_provider_is_404(api):
    uuid = new_uuid()
    response = api.get(f"/resource_providers/{uuid}/inventories")
    assert response.status_code == 404
    assert f"No resource provider with uuid {uuid} found" in error_of(response)["detail"]


@pytest.mark.parametrize("version,status", [("1.25", 400), ("1.26", 201)])
def test_post_reserved_may_equal_total_from_1_26(api, rp, version, status):
    response = api.post(f"/resource_providers/{rp}/inventories",
                        {"resource_class": "VCPU", "total": 4, "reserved": 4}, version=version)
    assert response.status_code == status
    if status == 400:
        assert "The reserved value is greater than or equal to total." in error_of(response)["detail"]


@pytest.mark.parametrize("version,status", [("1.25", 400), ("1.26", 200)])
def test_put_one_reserved_may_equal_total_from_1_26(api, rp, version, status):
    api.set_inventory(rp, VCPU=4)
    response = api.put(f"/resource_providers/{rp}/inventories/VCPU",
                       {"resource_provider_generation": 1, "total": 4, "reserved": 4}, version=version)
    assert response.status_code == status
    assert api.generation(rp) == (1 if status == 400 else 2)


def test_delete_all_with_nothing_there_still_answers_204(api, rp):
    assert api.delete(f"/resource_providers/{rp}/inventories").status_code == 204
    assert api.delete(f"/resource_providers/{new_uuid()}/inventories").status_code == 404


def test_delete_one_class_in_use_is_409(api, rp):
    api.set_inventory(rp, VCPU=8)
    api.allocate(new_uuid(), {rp: {"VCPU": 1}})
    response = api.delete(f"/resource_providers/{rp}/inventories/VCPU")
    assert response.status_code == 409
    assert error_of(response)["code"] == "placement.concurrent_update"


def test_capacity_below_usage_is_refused(api, rp):
    # A deliberate difference from Placement: usage never exceeds capacity
    # (docs/store.md, docs/compatibility.md).
    api.set_inventory(rp, VCPU=8)
    api.allocate(new_uuid(), {rp: {"VCPU": 6}})
    response = api.put(
        f"/resource_providers/{rp}/inventories",
        {"resource_provider_generation": api.generation(rp), "inventories": {"VCPU": {"total": 5}}},
    )
    assert response.status_code == 409
    assert error_of(response)["code"] == "placement.inventory.inuse"
    assert "update conflict: Inventory for 'VCPU'" in error_of(response)["detail"]
    one = api.put(f"/resource_providers/{rp}/inventories/VCPU",
                  {"resource_provider_generation": api.generation(rp), "total": 8, "reserved": 3})
    assert one.status_code == 409
    assert error_of(one)["code"] == "placement.inventory.inuse"
    assert "update conflict: Inventory for 'VCPU'" in error_of(one)["detail"]
    assert api.get(f"/resource_providers/{rp}/inventories/VCPU").json()["total"] == 8
    shrunk = api.put(
        f"/resource_providers/{rp}/inventories",
        {"resource_provider_generation": api.generation(rp), "inventories": {"VCPU": {"total": 6}}},
    )
    assert shrunk.status_code == 200


def test_post_and_put_one_on_an_unknown_provider_are_404(api):
    missing = new_uuid()
    assert api.post(f"/resource_providers/{missing}/inventories",
                    {"resource_class": "VCPU", "total": 1}).status_code == 404
    assert api.put(f"/resource_providers/{missing}/inventories/VCPU",
                   {"resource_provider_generation": 0, "total": 1}).status_code == 404
    assert api.put(f"/resource_providers/{missing}/inventories",
                   {"resource_provider_generation": 0, "inventories": {}}).status_code == 404
