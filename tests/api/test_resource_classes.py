"""/resource_classes[/{name}] (1.2; PUT changes meaning at 1.7)."""

from __future__ import annotations

from tests.api.client import error_of, new_uuid


def test_not_there_before_1_2(api):
    assert api.get("/resource_classes", version="1.1").status_code == 404


def test_list_has_standard_classes_with_links(api):
    classes = api.get("/resource_classes", version="1.2").json()["resource_classes"]
    vcpu = next(rc for rc in classes if rc["name"] == "VCPU")
    assert vcpu["links"] == [{"rel": "self", "href": "/resource_classes/VCPU"}]


def test_create_get_delete(api):
    created = api.post("/resource_classes", {"name": "CUSTOM_IRON"})
    assert created.status_code == 201
    assert created.headers["location"].endswith("/resource_classes/CUSTOM_IRON")
    assert api.get("/resource_classes/CUSTOM_IRON").json()["name"] == "CUSTOM_IRON"
    duplicate = api.post("/resource_classes", {"name": "CUSTOM_IRON"})
    assert duplicate.status_code == 409
    assert "Conflicting resource class already exists: CUSTOM_IRON" in error_of(duplicate)["detail"]
    assert api.delete("/resource_classes/CUSTOM_IRON").status_code == 204
    assert api.get("/resource_classes/CUSTOM_IRON").status_code == 404


def test_names_must_be_custom(api):
    response = api.post("/resource_classes", {"name": "IRON"})
    assert response.status_code == 400
    assert "Failed validating 'pattern'" in error_of(response)["detail"]


def test_put_renames_until_1_6(api):
    api.post("/resource_classes", {"name": "CUSTOM_OLD"})
    response = api.put("/resource_classes/CUSTOM_OLD", {"name": "CUSTOM_NEW"}, version="1.6")
    assert response.status_code == 200
    assert response.json()["name"] == "CUSTOM_NEW"
    bodiless = api.request("PUT", "/resource_classes/CUSTOM_NEW", version="1.6",
                           headers={"content-type": "application/json"})
    assert bodiless.status_code == 400
    standard = api.put("/resource_classes/VCPU", {"name": "CUSTOM_VCPU"}, version="1.6")
    assert "Cannot update standard resource class VCPU" in error_of(standard)["detail"]


def test_put_creates_or_verifies_from_1_7(api):
    created = api.put("/resource_classes/CUSTOM_SEVEN", version="1.7")
    assert created.status_code == 201
    assert created.headers["location"].endswith("/resource_classes/CUSTOM_SEVEN")
    assert api.put("/resource_classes/CUSTOM_SEVEN", version="1.7").status_code == 204
    assert api.put("/resource_classes/VCPU", version="1.7").status_code == 400


def test_standard_and_in_use_classes_cannot_be_deleted(api):
    standard = api.delete("/resource_classes/VCPU")
    assert standard.status_code == 400
    assert "Cannot delete standard resource class" in error_of(standard)["detail"]
    api.post("/resource_classes", {"name": "CUSTOM_USED"})
    rp = api.create_provider()["uuid"]
    api.set_inventory(rp, CUSTOM_USED=4)
    in_use = api.delete("/resource_classes/CUSTOM_USED")
    assert in_use.status_code == 409
    assert "Error in delete resource class" in error_of(in_use)["detail"]


def test_unknown_class_is_404(api):
    response = api.get(f"/resource_classes/CUSTOM_{new_uuid()[:4].upper()}X")
    assert response.status_code == 404


def test_every_method_needs_1_2(api):
    api.post("/resource_classes", {"name": "CUSTOM_NEW"})
    for method, path, body in (
        ("GET", "/resource_classes", None),
        ("POST", "/resource_classes", {"name": "CUSTOM_OLD"}),
        ("GET", "/resource_classes/CUSTOM_NEW", None),
        ("PUT", "/resource_classes/CUSTOM_NEW", {"name": "CUSTOM_NEWER"}),
        ("DELETE", "/resource_classes/CUSTOM_NEW", None),
    ):
        assert api.request(method, path, body, version="1.1").status_code == 404, (method, path)
    assert api.get("/resource_classes/CUSTOM_NEW", version="1.2").status_code == 200
    assert api.get("/resource_classes/CUSTOM_OLD").status_code == 404


def test_rename_conflicts_and_unknown_classes_until_1_6(api):
    api.post("/resource_classes", {"name": "CUSTOM_ONE"})
    api.post("/resource_classes", {"name": "CUSTOM_TWO"})
    taken = api.put("/resource_classes/CUSTOM_ONE", {"name": "CUSTOM_TWO"}, version="1.6")
    assert taken.status_code == 409
    assert "Resource class already exists: CUSTOM_TWO" in error_of(taken)["detail"]
    missing = api.put("/resource_classes/CUSTOM_NONE", {"name": "CUSTOM_THREE"}, version="1.6")
    assert missing.status_code == 404


def test_from_1_7_the_path_names_the_class_and_a_body_is_ignored(api):
    response = api.put("/resource_classes/CUSTOM_PATH", {"name": "CUSTOM_BODY"}, version="1.7")
    assert response.status_code == 201
    assert api.get("/resource_classes/CUSTOM_PATH").status_code == 200
    assert api.get("/resource_classes/CUSTOM_BODY").status_code == 404


def test_from_1_7_a_bad_name_is_400(api):
    response = api.put("/resource_classes/NOT_CUSTOM", version="1.7")
    assert response.status_code == 400
    assert "JSON does not validate" in error_of(response)["detail"]


def test_a_class_in_use_by_allocations_only_cannot_be_deleted(api):
    api.post("/resource_classes", {"name": "CUSTOM_HELD"})
    rp = api.create_provider()["uuid"]
    api.set_inventory(rp, CUSTOM_HELD=4)
    api.allocate(new_uuid(), {rp: {"CUSTOM_HELD": 1}})
    response = api.delete("/resource_classes/CUSTOM_HELD")
    assert response.status_code == 409
    assert api.get("/resource_classes/CUSTOM_HELD").status_code == 200


def test_delete_unknown_class_is_404(api):
    assert api.delete("/resource_classes/CUSTOM_NEVER").status_code == 404
