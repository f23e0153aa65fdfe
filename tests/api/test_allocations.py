"""/allocations/{consumer}, POST /allocations and provider allocations: every
body form and its microversion boundary."""

from __future__ import annotations

import pytest

from berth.config import PlacementSettings, Settings
from tests.api.client import error_of, new_uuid


@pytest.fixture
def rp(api) -> str:
    uuid = api.create_provider()["uuid"]
    api.set_inventory(uuid, VCPU=8, MEMORY_MB=1024)
    return uuid


def _list_form(rp: str, **resources: int) -> dict:
    return {"allocations": [{"resource_provider": {"uuid": rp}, "resources": resources}]}


def _dict_form(rp: str, **resources: int) -> dict:
    return {"allocations": {rp: {"resources": resources}}}


def test_list_form_before_1_8_uses_the_incomplete_consumer(make_api, rp):
    settings = Settings(placement=PlacementSettings(
        incomplete_consumer_project_id="incomplete-p", incomplete_consumer_user_id="incomplete-u"))
    api = make_api(settings)
    consumer = new_uuid()
    assert api.put(f"/allocations/{consumer}", _list_form(rp, VCPU=1), version="1.7").status_code == 204
    body = api.get(f"/allocations/{consumer}", version="1.12").json()
    assert (body["project_id"], body["user_id"]) == ("incomplete-p", "incomplete-u")


def test_project_and_user_required_from_1_8(api, rp):
    consumer = new_uuid()
    missing = api.put(f"/allocations/{consumer}", _list_form(rp, VCPU=1), version="1.8")
    assert missing.status_code == 400
    assert "'project_id' is a required property" in error_of(missing)["detail"]
    body = {**_list_form(rp, VCPU=1), "project_id": "p", "user_id": "u"}
    assert api.put(f"/allocations/{consumer}", body, version="1.8").status_code == 204


def test_dict_form_from_1_12(api, rp):
    consumer = new_uuid()
    body = {**_dict_form(rp, VCPU=2), "project_id": "p", "user_id": "u"}
    assert api.put(f"/allocations/{consumer}", body, version="1.11").status_code == 400
    assert api.put(f"/allocations/{consumer}", body, version="1.12").status_code == 204


def test_get_shape_per_version(api, rp):
    consumer = new_uuid()
    assert api.allocate(consumer, {rp: {"VCPU": 2}}, project="p", user="u").status_code == 204
    path = f"/allocations/{consumer}"
    generation = api.generation(rp)
    assert api.get(path, version="1.11").json() == {
        "allocations": {rp: {"generation": generation, "resources": {"VCPU": 2}}}
    }
    assert set(api.get(path, version="1.12").json()) == {"allocations", "project_id", "user_id"}
    assert api.get(path, version="1.28").json()["consumer_generation"] == 1
    assert api.get(path, version="1.38").json()["consumer_type"] == "INSTANCE"


def test_unknown_consumer_has_no_allocations(api):
    assert api.get(f"/allocations/{new_uuid()}").json() == {"allocations": {}}


def test_consumer_generation_from_1_28(api, rp):
    consumer = new_uuid()
    body = {**_dict_form(rp, VCPU=1), "project_id": "p", "user_id": "u"}
    assert api.put(f"/allocations/{consumer}", body, version="1.28").status_code == 400
    wrong = api.put(f"/allocations/{consumer}", {**body, "consumer_generation": 3}, version="1.28")
    assert wrong.status_code == 409
    assert "consumer generation conflict - expected null but got 3" in error_of(wrong)["detail"]
    assert error_of(wrong)["code"] == "placement.concurrent_update"
    assert api.put(f"/allocations/{consumer}", {**body, "consumer_generation": None},
                   version="1.28").status_code == 204
    stale = api.put(f"/allocations/{consumer}", {**body, "consumer_generation": None}, version="1.28")
    assert "expected 1 but got None" in error_of(stale)["detail"]


def test_empty_allocations_clear_from_1_28(api, rp):
    consumer = new_uuid()
    api.allocate(consumer, {rp: {"VCPU": 1}})
    body = {"allocations": {}, "project_id": "p", "user_id": "u", "consumer_generation": 1}
    assert api.put(f"/allocations/{consumer}", body, version="1.28").status_code == 204
    assert api.get(f"/allocations/{consumer}").json() == {"allocations": {}}
    empty_early = {"allocations": {}, "project_id": "p", "user_id": "u"}
    assert api.put(f"/allocations/{consumer}", empty_early, version="1.27").status_code == 400


def test_mappings_accepted_from_1_34(api, rp):
    consumer = new_uuid()
    body = {**_dict_form(rp, VCPU=1), "project_id": "p", "user_id": "u",
            "consumer_generation": None, "mappings": {"": [rp]}}
    assert api.put(f"/allocations/{consumer}", body, version="1.33").status_code == 400
    assert api.put(f"/allocations/{consumer}", body, version="1.34").status_code == 204


def test_consumer_type_required_from_1_38(api, rp):
    consumer = new_uuid()
    body = {**_dict_form(rp, VCPU=1), "project_id": "p", "user_id": "u", "consumer_generation": None}
    assert api.put(f"/allocations/{consumer}", body, version="1.38").status_code == 400
    typed = {**body, "consumer_type": "MIGRATION"}
    assert api.put(f"/allocations/{consumer}", typed, version="1.38").status_code == 204
    assert api.get(f"/allocations/{consumer}").json()["consumer_type"] == "MIGRATION"


def test_capacity_and_unknown_things(api, rp):
    over = api.allocate(new_uuid(), {rp: {"VCPU": 9}})
    assert over.status_code == 409
    assert "Unable to allocate inventory" in error_of(over)["detail"]
    no_inventory = api.allocate(new_uuid(), {rp: {"DISK_GB": 1}})
    assert no_inventory.status_code == 409
    missing_rp = new_uuid()
    unknown = api.allocate(new_uuid(), {missing_rp: {"VCPU": 1}})
    assert unknown.status_code == 400
    expected = f"Allocation for resource provider '{missing_rp}' that does not exist."
    assert expected in error_of(unknown)["detail"]
    bad_consumer = api.put("/allocations/not-a-uuid", {**_dict_form(rp, VCPU=1)})
    assert "Malformed consumer_uuid: not-a-uuid" in error_of(bad_consumer)["detail"]


def test_empty_resources_are_refused(api, rp):
    response = api.put(f"/allocations/{new_uuid()}", _list_form(rp), version="1.0")
    assert response.status_code == 400


def test_post_allocations_from_1_13(api, rp):
    first, second = new_uuid(), new_uuid()
    body = {
        consumer: {**_dict_form(rp, VCPU=1), "project_id": "p", "user_id": "u",
                   "consumer_generation": None, "consumer_type": "INSTANCE"}
        for consumer in (first, second)
    }
    assert api.post("/allocations", body, version="1.12").status_code == 404
    assert api.post("/allocations", body).status_code == 204
    usages = api.get(f"/resource_providers/{rp}/usages").json()["usages"]
    assert usages["VCPU"] == 2
    # All or nothing: one consumer over capacity writes nothing.
    too_much = {
        first: {**body[first], "consumer_generation": 1},
        new_uuid(): {**_dict_form(rp, VCPU=7), "project_id": "p", "user_id": "u",
                     "consumer_generation": None, "consumer_type": "INSTANCE"},
    }
    too_much[first]["allocations"] = {rp: {"resources": {"VCPU": 2}}}
    assert api.post("/allocations", too_much).status_code == 409
    assert api.get(f"/resource_providers/{rp}/usages").json()["usages"]["VCPU"] == 2


def test_delete(api, rp):
    consumer = new_uuid()
    api.allocate(consumer, {rp: {"VCPU": 1}})
    assert api.delete(f"/allocations/{consumer}").status_code == 204
    again = api.delete(f"/allocations/{consumer}")
    assert again.status_code == 404
    assert f"No allocations for consumer '{consumer}'" in error_of(again)["detail"]


def test_provider_allocations(api, rp):
    consumer = new_uuid()
    api.allocate(consumer, {rp: {"VCPU": 2, "MEMORY_MB": 256}})
    body = api.get(f"/resource_providers/{rp}/allocations", version="1.27").json()
    assert body == {
        "allocations": {consumer: {"resources": {"VCPU": 2, "MEMORY_MB": 256}}},
        "resource_provider_generation": api.generation(rp),
    }
    latest = api.get(f"/resource_providers/{rp}/allocations").json()
    assert "consumer_generation" in latest["allocations"][consumer]
    assert api.get(f"/resource_providers/{new_uuid()}/allocations").status_code == 404
