"""/traits[/{name}] and /resource_providers/{uuid}/traits (1.6)."""

from __future__ import annotations

from tests.api.client import error_of, new_uuid


def test_not_there_before_1_6(api):
    assert api.get("/traits", version="1.5").status_code == 404
    assert api.put("/traits/CUSTOM_X", version="1.5").status_code == 404


def test_create_verify_and_delete_custom_trait(api):
    created = api.put("/traits/CUSTOM_GOLD")
    assert created.status_code == 201
    assert created.headers["location"].endswith("/traits/CUSTOM_GOLD")
    assert api.put("/traits/CUSTOM_GOLD").status_code == 204
    assert api.get("/traits/CUSTOM_GOLD").status_code == 204
    assert api.delete("/traits/CUSTOM_GOLD").status_code == 204
    missing = api.get("/traits/CUSTOM_GOLD")
    assert missing.status_code == 404
    assert "No such trait(s): CUSTOM_GOLD." in error_of(missing)["detail"]


def test_only_custom_traits_can_be_created_or_deleted(api):
    response = api.put("/traits/NOT_CUSTOM")
    assert response.status_code == 400
    assert 'start with the prefix "CUSTOM_"' in error_of(response)["detail"]
    standard = api.delete("/traits/HW_CPU_X86_AVX2")
    assert standard.status_code == 400
    assert "Cannot delete standard trait" in error_of(standard)["detail"]


def test_list_filters(api):
    api.put("/traits/CUSTOM_A1")
    api.put("/traits/CUSTOM_A2")
    api.put("/traits/CUSTOM_B")
    assert sorted(api.get("/traits?name=startswith:CUSTOM_A").json()["traits"]) == ["CUSTOM_A1", "CUSTOM_A2"]
    assert sorted(api.get("/traits?name=in:CUSTOM_B,CUSTOM_A1").json()["traits"]) == ["CUSTOM_A1", "CUSTOM_B"]
    rp = api.create_provider()["uuid"]
    api.set_traits(rp, "CUSTOM_B")
    assert api.get("/traits?name=startswith:CUSTOM_&associated=true").json()["traits"] == ["CUSTOM_B"]
    bad = api.get("/traits?name=in_abc")
    assert "Badly formatted name parameter" in error_of(bad)["detail"]
    assert api.get("/traits?associated=maybe").status_code == 400
    assert api.get("/traits?foo=bar").status_code == 400


def test_provider_traits(api):
    rp = api.create_provider()["uuid"]
    assert api.get(f"/resource_providers/{rp}/traits").json() == {
        "traits": [], "resource_provider_generation": 0,
    }
    response = api.put(
        f"/resource_providers/{rp}/traits",
        {"traits": ["HW_CPU_X86_AVX2", "STORAGE_DISK_SSD"], "resource_provider_generation": 0},
    )
    assert response.json() == {
        "traits": ["HW_CPU_X86_AVX2", "STORAGE_DISK_SSD"], "resource_provider_generation": 1,
    }
    stale = api.put(f"/resource_providers/{rp}/traits", {"traits": [], "resource_provider_generation": 0})
    assert stale.status_code == 409
    assert error_of(stale)["code"] == "placement.concurrent_update"
    unknown = api.put(
        f"/resource_providers/{rp}/traits",
        {"traits": ["NON_EXISTED_TRAIT1"], "resource_provider_generation": 1},
    )
    assert unknown.status_code == 400
    assert "No such trait NON_EXISTED_TRAIT1" in error_of(unknown)["detail"]
    assert api.delete(f"/resource_providers/{rp}/traits").status_code == 204
    assert api.get(f"/resource_providers/{rp}/traits").json()["traits"] == []


def test_trait_in_use_cannot_be_deleted(api):
    rp = api.create_provider()["uuid"]
    api.set_traits(rp, "CUSTOM_USED")
    response = api.delete("/traits/CUSTOM_USED")
    assert response.status_code == 409
    assert "The trait CUSTOM_USED is in use by a resource provider." in error_of(response)["detail"]


def test_unknown_provider(api):
    uuid = new_uuid()
    assert api.get(f"/resource_providers/{uuid}/traits").status_code == 404


def test_every_method_needs_1_6(api):
    rp = api.create_provider()["uuid"]
    for method, path, body in (
        ("GET", "/traits", None),
        ("GET", "/traits/HW_CPU_X86_AVX2", None),
        ("PUT", "/traits/CUSTOM_EARLY", None),
        ("DELETE", "/traits/CUSTOM_EARLY", None),
        ("GET", f"/resource_providers/{rp}/traits", None),
        ("PUT", f"/resource_providers/{rp}/traits", {"traits": [], "resource_provider_generation": 0}),
        ("DELETE", f"/resource_providers/{rp}/traits", None),
    ):
        assert api.request(method, path, body, version="1.5").status_code == 404, (method, path)
    assert api.get("/traits/CUSTOM_EARLY", version="1.6").status_code == 404
    assert api.get("/traits/HW_CPU_X86_AVX2", version="1.6").status_code == 204


def test_delete_provider_traits_bumps_the_generation(api):
    rp = api.create_provider()["uuid"]
    api.set_traits(rp, "HW_CPU_X86_AVX2")
    assert api.delete(f"/resource_providers/{rp}/traits").status_code == 204
    assert api.get(f"/resource_providers/{rp}/traits").json() == {
        "traits": [], "resource_provider_generation": 2,
    }
    assert api.delete(f"/resource_providers/{new_uuid()}/traits").status_code == 404


def test_associated_false_lists_unused_traits(api):
    api.put("/traits/CUSTOM_USED")
    api.put("/traits/CUSTOM_IDLE")
    api.set_traits(api.create_provider()["uuid"], "CUSTOM_USED")
    listed = api.get("/traits?name=startswith:CUSTOM_&associated=false").json()["traits"]
    assert listed == ["CUSTOM_IDLE"]


def test_provider_traits_bad_bodies(api):
    rp = api.create_provider()["uuid"]
    no_generation = api.put(f"/resource_providers/{rp}/traits", {"traits": []})
    assert "'resource_provider_generation' is a required property" in error_of(no_generation)["detail"]
    not_a_list = api.put(f"/resource_providers/{rp}/traits",
                         {"traits": "HW_CPU_X86_AVX2", "resource_provider_generation": 0})
    assert not_a_list.status_code == 400
    assert api.generation(rp) == 0
