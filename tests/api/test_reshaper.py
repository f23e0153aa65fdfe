"""POST /reshaper (1.30)."""

from __future__ import annotations

from tests.api.client import consumer_body, error_of, new_uuid


def _allocation(rp: str, consumer_generation, **resources) -> dict:
    return consumer_body({rp: resources}, generation=consumer_generation, consumer_type="INSTANCE")


def test_moves_inventory_and_allocations_to_a_child(api):
    root = api.create_provider()["uuid"]
    api.set_inventory(root, VCPU=8)
    consumer = new_uuid()
    api.allocate(consumer, {root: {"VCPU": 2}})
    child = api.create_provider(parent=root)["uuid"]
    body = {
        "inventories": {
            root: {"resource_provider_generation": api.generation(root), "inventories": {}},
            child: {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}},
        },
        "allocations": {consumer: _allocation(child, 1, VCPU=2)},
    }
    assert api.post("/reshaper", body, version="1.29").status_code == 404
    response = api.post("/reshaper", body)
    assert response.status_code == 204, response.text
    assert api.get(f"/allocations/{consumer}").json()["allocations"][child]["resources"] == {"VCPU": 2}
    assert api.get(f"/resource_providers/{root}/inventories").json()["inventories"] == {}


def test_stale_generation_and_unknown_provider(api):
    rp = api.create_provider()["uuid"]
    stale = api.post("/reshaper", {
        "inventories": {rp: {"resource_provider_generation": 5, "inventories": {}}},
        "allocations": {},
    })
    assert stale.status_code == 409
    assert error_of(stale)["code"] == "placement.concurrent_update"
    unknown = new_uuid()
    missing = api.post("/reshaper", {
        "inventories": {unknown: {"resource_provider_generation": 0, "inventories": {}}},
        "allocations": {},
    })
    assert missing.status_code == 400
    assert error_of(missing)["code"] == "placement.resource_provider.not_found"


def test_consumer_type_required_from_1_38(api):
    rp = api.create_provider()["uuid"]
    api.set_inventory(rp, VCPU=8)
    allocation = _allocation(rp, None, VCPU=1)
    del allocation["consumer_type"]
    body = {"inventories": {rp: {"resource_provider_generation": 1,
                                 "inventories": {"VCPU": {"total": 8}}}},
            "allocations": {new_uuid(): allocation}}
    assert api.post("/reshaper", body, version="1.38").status_code == 400
    assert api.post("/reshaper", body, version="1.37").status_code == 204


def _move_to_child(api, allocation: dict | None = None) -> tuple[dict, str]:
    """A body moving a root's VCPU inventory (and one consumer of it) to a
    new child; returns it with the consumer."""
    root = api.create_provider()["uuid"]
    api.set_inventory(root, VCPU=8)
    consumer = new_uuid()
    api.allocate(consumer, {root: {"VCPU": 2}})
    child = api.create_provider(parent=root)["uuid"]
    body = {
        "inventories": {
            root: {"resource_provider_generation": api.generation(root), "inventories": {}},
            child: {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}},
        },
        "allocations": {consumer: {**_allocation(child, 1, VCPU=2), **(allocation or {})}},
    }
    return body, consumer


def test_mappings_accepted_from_1_34(api):
    body, _ = _move_to_child(api, {"mappings": {"_CPU": [new_uuid()]}})
    del body["allocations"][next(iter(body["allocations"]))]["consumer_type"]
    old = api.post("/reshaper", body, version="1.33")
    assert old.status_code == 400
    assert "'mappings' was unexpected" in error_of(old)["detail"]
    assert api.post("/reshaper", body, version="1.34").status_code == 204


def test_consumer_type_refused_before_1_38(api):
    body, consumer = _move_to_child(api)
    refused = api.post("/reshaper", body, version="1.37")
    assert refused.status_code == 400
    assert "'consumer_type' was unexpected" in error_of(refused)["detail"]
    assert api.post("/reshaper", body, version="1.38").status_code == 204
    assert api.get(f"/allocations/{consumer}").json()["consumer_type"] == "INSTANCE"


def test_consumer_generation_required(api):
    body, consumer = _move_to_child(api)
    del body["allocations"][consumer]["consumer_generation"]
    del body["allocations"][consumer]["consumer_type"]
    response = api.post("/reshaper", body, version="1.30")
    assert response.status_code == 400
    assert "'consumer_generation' is a required property" in error_of(response)["detail"]


def test_nothing_to_reshape_is_400_but_no_allocations_is_fine(api):
    empty = api.post("/reshaper", {"inventories": {}, "allocations": {}})
    assert empty.status_code == 400
    assert "should be non-empty" in error_of(empty)["detail"]
    rp = api.create_provider()["uuid"]
    body = {"inventories": {rp: {"resource_provider_generation": 0,
                                 "inventories": {"VCPU": {"total": 4}}}},
            "allocations": {}}
    assert api.post("/reshaper", body).status_code == 204
    assert api.generation(rp) > 0
    assert api.get(f"/resource_providers/{rp}/inventories/VCPU").json()["total"] == 4


def test_unknown_resource_class_is_400(api):
    rp = api.create_provider()["uuid"]
    body = {"inventories": {rp: {"resource_provider_generation": 0,
                                 "inventories": {"CUSTOM_NOPE": {"total": 4}}}},
            "allocations": {}}
    response = api.post("/reshaper", body)
    assert response.status_code == 400
    assert "malformed reshaper data" in error_of(response)["detail"]


def test_leaving_allocations_behind_is_409_inventory_inuse(api):
    body, consumer = _move_to_child(api)
    body["allocations"] = {}
    response = api.post("/reshaper", body)
    assert response.status_code == 409
    assert error_of(response)["code"] == "placement.inventory.inuse"
