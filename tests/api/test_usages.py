"""/resource_providers/{uuid}/usages and /usages (1.9, by type from 1.38)."""

from __future__ import annotations

from tests.api.client import consumer_body, error_of, new_uuid


def test_provider_usages(api):
    rp = api.create_provider()["uuid"]
    api.set_inventory(rp, VCPU=8, DISK_GB=100)
    api.allocate(new_uuid(), {rp: {"VCPU": 3}})
    body = api.get(f"/resource_providers/{rp}/usages").json()
    assert body == {"resource_provider_generation": api.generation(rp),
                    "usages": {"VCPU": 3, "DISK_GB": 0}}
    assert api.get(f"/resource_providers/{new_uuid()}/usages").status_code == 404


def test_total_usages_from_1_9(api):
    rp = api.create_provider()["uuid"]
    api.set_inventory(rp, VCPU=8)
    api.allocate(new_uuid(), {rp: {"VCPU": 1}}, project="p1", user="u1")
    api.allocate(new_uuid(), {rp: {"VCPU": 2}}, project="p1", user="u2", consumer_type="MIGRATION")
    assert api.get("/usages?project_id=p1", version="1.8").status_code == 404
    assert api.get("/usages?project_id=p1", version="1.9").json() == {"usages": {"VCPU": 3}}
    assert api.get("/usages?project_id=p1&user_id=u2", version="1.37").json() == {"usages": {"VCPU": 2}}
    assert api.get("/usages?project_id=p1").json() == {"usages": {
        "INSTANCE": {"VCPU": 1, "consumer_count": 1},
        "MIGRATION": {"VCPU": 2, "consumer_count": 1},
    }}
    assert api.get("/usages?project_id=p1&consumer_type=all").json() == {
        "usages": {"all": {"VCPU": 3, "consumer_count": 2}}
    }
    assert api.get("/usages?project_id=p1&consumer_type=INSTANCE", version="1.37").status_code == 400


def test_total_usages_validation(api):
    missing = api.get("/usages")
    assert missing.status_code == 400
    assert "'project_id' is a required property" in error_of(missing)["detail"]
    assert api.get("/usages?project_id=p&bad=1").status_code == 400
    assert api.get(f"/usages?project_id={'x' * 256}").status_code == 400


def test_consumer_type_unknown_and_all_from_1_38(api):
    rp = api.create_provider()["uuid"]
    api.set_inventory(rp, VCPU=8)
    untyped = consumer_body({rp: {"VCPU": 1}}, project="p1", user="u1", generation=None)
    assert api.put(f"/allocations/{new_uuid()}", untyped, version="1.37").status_code == 204
    api.allocate(new_uuid(), {rp: {"VCPU": 2}}, project="p1", user="u1")
    assert api.get("/usages?project_id=p1&consumer_type=unknown").json() == {
        "usages": {"unknown": {"VCPU": 1, "consumer_count": 1}}
    }
    assert api.get("/usages?project_id=p1&consumer_type=INSTANCE").json() == {
        "usages": {"INSTANCE": {"VCPU": 2, "consumer_count": 1}}
    }
    assert api.get("/usages?project_id=p1&consumer_type=all").json() == {
        "usages": {"all": {"VCPU": 3, "consumer_count": 2}}
    }
    assert api.get("/usages?project_id=p1&consumer_type=bad-type").status_code == 400


def test_a_project_without_consumers_has_no_usages(api):
    assert api.get("/usages?project_id=nobody", version="1.9").json() == {"usages": {}}
    assert api.get("/usages?project_id=nobody").json() == {"usages": {}}


def test_provider_usages_count_every_consumer_and_stay_at_1_0(api):
    rp = api.create_provider()["uuid"]
    api.set_inventory(rp, VCPU=8)
    api.allocate(new_uuid(), {rp: {"VCPU": 1}})
    api.allocate(new_uuid(), {rp: {"VCPU": 2}}, project="other")
    response = api.get(f"/resource_providers/{rp}/usages", version=None)
    assert response.headers["openstack-api-version"] == "placement 1.0"
    assert response.json()["usages"] == {"VCPU": 3}
