"""/resource_providers and /resource_providers/{uuid}."""

from __future__ import annotations

import pytest

from tests.api.client import error_of, new_uuid


def test_create_answers_201_without_body_before_1_20(api):
    response = api.post("/resource_providers", {"name": "old"}, version="1.19")
    assert response.status_code == 201
    assert response.content == b""
    assert "content-type" not in response.headers
    assert "/resource_providers/" in response.headers["location"]


def test_create_answers_200_with_the_provider_from_1_20(api):
    uuid = new_uuid()
    response = api.post("/resource_providers", {"name": "new", "uuid": uuid}, version="1.20")
    assert response.status_code == 200
    body = response.json()
    assert (body["uuid"], body["name"], body["generation"]) == (uuid, "new", 0)
    assert body["parent_provider_uuid"] is None and body["root_provider_uuid"] == uuid
    assert response.headers["location"].endswith(f"/resource_providers/{uuid}")


def test_uuid_without_dashes_is_normalised(api):
    response = api.post("/resource_providers", {"name": "n", "uuid": "2290d4af9e6e400b9d651ee01376f71a"})
    assert response.json()["uuid"] == "2290d4af-9e6e-400b-9d65-1ee01376f71a"


@pytest.mark.parametrize("version,relations", [
    ("1.0", ["self", "inventories", "usages"]),
    ("1.1", ["self", "inventories", "usages", "aggregates"]),
    ("1.6", ["self", "inventories", "usages", "aggregates", "traits"]),
    ("1.10", ["self", "inventories", "usages", "aggregates", "traits"]),
    ("1.11", ["self", "inventories", "usages", "aggregates", "traits", "allocations"]),
])
def test_links_per_version(api, version, relations):
    rp = api.create_provider()
    body = api.get(f"/resource_providers/{rp['uuid']}", version=version).json()
    assert [link["rel"] for link in body["links"]] == relations
    assert body["links"][1]["href"] == f"/resource_providers/{rp['uuid']}/inventories"


def test_parent_and_root_shown_from_1_14(api):
    rp = api.create_provider()
    assert "root_provider_uuid" not in api.get(f"/resource_providers/{rp['uuid']}", version="1.13").json()
    assert "root_provider_uuid" in api.get(f"/resource_providers/{rp['uuid']}", version="1.14").json()


def test_list_shows_parent_and_root_from_1_14(api):
    parent = api.create_provider()
    child = api.create_provider(parent=parent["uuid"])
    query = f"/resource_providers?uuid={child['uuid']}"
    assert set(api.get(query, version="1.13").json()["resource_providers"][0]) == {
        "uuid", "name", "generation", "links",
    }
    listed = api.get(query, version="1.14").json()["resource_providers"][0]
    assert (listed["parent_provider_uuid"], listed["root_provider_uuid"]) == (
        parent["uuid"], parent["uuid"],
    )


def test_put_names_a_parent_from_1_14(api):
    parent, root = api.create_provider(), api.create_provider()
    path = f"/resource_providers/{root['uuid']}"
    adopted = {"name": root["name"], "parent_provider_uuid": parent["uuid"]}
    old = api.put(path, adopted, version="1.13")
    assert old.status_code == 400
    assert "Additional properties are not allowed" in error_of(old)["detail"]
    # A root may be given a parent (it joins that tree) before 1.37.
    response = api.put(path, adopted, version="1.14")
    assert response.status_code == 200
    assert response.json()["root_provider_uuid"] == parent["uuid"]


def test_parent_refused_by_schema_before_1_14(api):
    parent = api.create_provider()
    response = api.post(
        "/resource_providers", {"name": "c", "parent_provider_uuid": parent["uuid"]}, version="1.13"
    )
    assert response.status_code == 400
    assert "JSON does not validate" in error_of(response)["detail"]


def test_duplicate_name_is_409_duplicate_name(api):
    api.create_provider("same")
    response = api.post("/resource_providers", {"name": "same"})
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "placement.duplicate_name"
    assert "Conflicting resource provider name: same already exists" in error["detail"]


def test_duplicate_uuid_is_409_duplicate_name(api):
    existing = api.create_provider()
    response = api.post("/resource_providers", {"name": "other", "uuid": existing["uuid"]})
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "placement.duplicate_name"
    assert f"Conflicting resource provider uuid: {existing['uuid']} already exists" in error["detail"]


def test_rename_to_a_taken_name_is_409_and_changes_nothing(api):
    api.create_provider("taken")
    rp = api.create_provider("mine")
    response = api.put(f"/resource_providers/{rp['uuid']}", {"name": "taken"})
    assert response.status_code == 409
    assert error_of(response)["code"] == "placement.duplicate_name"
    assert api.get(f"/resource_providers/{rp['uuid']}").json()["name"] == "mine"


def test_update_of_an_unknown_provider_is_404(api):
    response = api.put(f"/resource_providers/{new_uuid()}", {"name": "ghost"})
    assert response.status_code == 404


def test_unknown_parent_is_400(api):
    response = api.post("/resource_providers", {"name": "c", "parent_provider_uuid": new_uuid()})
    assert response.status_code == 400
    assert "parent provider UUID does not exist" in error_of(response)["detail"]


def test_get_unknown_provider_is_404(api):
    uuid = new_uuid()
    response = api.get(f"/resource_providers/{uuid}")
    assert response.status_code == 404
    assert f"No resource provider with uuid {uuid} found" in error_of(response)["detail"]
    assert api.get("/resource_providers/random_sauce").status_code == 404


def test_rename_keeps_generation(api):
    rp = api.create_provider()
    response = api.put(f"/resource_providers/{rp['uuid']}", {"name": "renamed"})
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["generation"]) == ("renamed", 0)


def test_reparenting_needs_1_37(api):
    first, second = api.create_provider(), api.create_provider()
    child = api.create_provider(parent=first["uuid"])
    path = f"/resource_providers/{child['uuid']}"
    moved = {"name": child["name"], "parent_provider_uuid": second["uuid"]}
    refused = api.put(path, moved, version="1.36")
    assert refused.status_code == 400
    assert "re-parenting a provider is not currently allowed" in error_of(refused)["detail"]
    unparent = api.put(path, {"name": child["name"], "parent_provider_uuid": None}, version="1.36")
    assert "un-parenting a provider is not currently allowed" in error_of(unparent)["detail"]
    response = api.put(path, moved, version="1.37")
    assert response.status_code == 200
    assert response.json()["root_provider_uuid"] == second["uuid"]


def test_unparenting_from_1_37_makes_a_new_root_of_the_subtree(api):
    root = api.create_provider()
    child = api.create_provider(parent=root["uuid"])
    grandchild = api.create_provider(parent=child["uuid"])
    response = api.put(
        f"/resource_providers/{child['uuid']}",
        {"name": child["name"], "parent_provider_uuid": None}, version="1.37",
    )
    assert response.status_code == 200
    assert (response.json()["parent_provider_uuid"], response.json()["root_provider_uuid"]) == (
        None, child["uuid"],
    )
    moved = api.get(f"/resource_providers/{grandchild['uuid']}").json()
    assert moved["root_provider_uuid"] == child["uuid"]
    assert {rp["uuid"] for rp in api.get(
        f"/resource_providers?in_tree={root['uuid']}").json()["resource_providers"]} == {root["uuid"]}


def test_reparenting_into_its_own_subtree_is_a_loop(api):
    root = api.create_provider()
    child = api.create_provider(parent=root["uuid"])
    grandchild = api.create_provider(parent=child["uuid"])
    response = api.put(
        f"/resource_providers/{child['uuid']}",
        {"name": child["name"], "parent_provider_uuid": grandchild["uuid"]}, version="1.37",
    )
    assert response.status_code == 400
    assert "creating loop in the provider tree is not allowed." in error_of(response)["detail"]


def test_loop_in_tree_is_400(api):
    parent = api.create_provider()
    child = api.create_provider(parent=parent["uuid"])
    response = api.put(
        f"/resource_providers/{parent['uuid']}",
        {"name": parent["name"], "parent_provider_uuid": child["uuid"]},
    )
    assert response.status_code == 400
    assert "creating loop in the provider tree is not allowed." in error_of(response)["detail"]


def test_delete_parent_is_409(api):
    parent = api.create_provider()
    api.create_provider(parent=parent["uuid"])
    response = api.delete(f"/resource_providers/{parent['uuid']}")
    assert response.status_code == 409
    assert error_of(response)["code"] == "placement.resource_provider.cannot_delete_parent"


def test_delete_provider_with_allocations_is_409(api):
    rp = api.create_provider()
    api.set_inventory(rp["uuid"], VCPU=4)
    assert api.allocate(new_uuid(), {rp["uuid"]: {"VCPU": 1}}).status_code == 204
    response = api.delete(f"/resource_providers/{rp['uuid']}")
    assert response.status_code == 409
    assert error_of(response)["code"] == "placement.resource_provider.inuse"


def test_delete_then_404_for_delete(api):
    rp = api.create_provider()
    assert api.delete(f"/resource_providers/{rp['uuid']}").status_code == 204
    again = api.delete(f"/resource_providers/{rp['uuid']}")
    assert again.status_code == 404
    assert "found for delete" in error_of(again)["detail"]


def _listed(api, query: str, version: str = "1.39") -> set[str]:
    response = api.get(f"/resource_providers?{query}", version=version)
    assert response.status_code == 200, response.text
    return {rp["name"] for rp in response.json()["resource_providers"]}


def test_filter_by_name_and_uuid(api):
    rp = api.create_provider("alpha")
    api.create_provider("beta")
    assert _listed(api, "name=alpha") == {"alpha"}
    assert _listed(api, f"uuid={rp['uuid']}") == {"alpha"}
    bad = api.get("/resource_providers?uuid=spameggs")
    assert bad.status_code == 400 and "Invalid query string parameters" in bad.text
    assert api.get("/resource_providers?spam=eggs").status_code == 400


@pytest.fixture
def aggregated(api):
    agg_a, agg_b = new_uuid(), new_uuid()
    for name, aggregates in (("in-a", [agg_a]), ("in-b", [agg_b]), ("in-ab", [agg_a, agg_b])):
        rp = api.create_provider(name)
        api.set_aggregates(rp["uuid"], *aggregates)
    api.create_provider("in-none")
    return agg_a, agg_b


def test_member_of(api, aggregated):
    agg_a, agg_b = aggregated
    assert api.get(f"/resource_providers?member_of={agg_a}", version="1.2").status_code == 400
    assert _listed(api, f"member_of={agg_a}", "1.3") == {"in-a", "in-ab"}
    assert _listed(api, f"member_of=in:{agg_a},{agg_b}", "1.3") == {"in-a", "in-b", "in-ab"}


def test_member_of_repeated_from_1_24(api, aggregated):
    agg_a, agg_b = aggregated
    query = f"member_of={agg_a}&member_of={agg_b}"
    old = api.get(f"/resource_providers?{query}", version="1.23")
    assert old.status_code == 400
    assert "Multiple member_of parameters are not supported" in error_of(old)["detail"]
    assert _listed(api, query, "1.24") == {"in-ab"}


def test_forbidden_member_of_from_1_32(api, aggregated):
    agg_a, agg_b = aggregated
    old = api.get(f"/resource_providers?member_of=!{agg_a}", version="1.31")
    assert old.status_code == 400
    assert "Forbidden member_of parameters are not supported" in error_of(old)["detail"]
    assert _listed(api, f"member_of=!{agg_a}", "1.32") == {"in-b", "in-none"}
    assert _listed(api, f"member_of=!in:{agg_a},{agg_b}", "1.32") == {"in-none"}


def test_member_of_needs_in_for_several_and_uuids(api):
    response = api.get(f"/resource_providers?member_of={new_uuid()},{new_uuid()}")
    assert "must be prefixed with the 'in:' or '!in:' keyword" in error_of(response)["detail"]
    bad = api.get("/resource_providers?member_of=!(^o^)")
    assert "Expected 'member_of' parameter to contain valid UUID(s)" in error_of(bad)["detail"]


def test_resources_filter_from_1_4(api):
    big, small = api.create_provider("big"), api.create_provider("small")
    api.set_inventory(big["uuid"], VCPU=16)
    api.set_inventory(small["uuid"], VCPU=2)
    assert api.get("/resources_providers?resources=VCPU:4", version="1.3").status_code == 404
    assert api.get("/resource_providers?resources=VCPU:4", version="1.3").status_code == 400
    assert _listed(api, "resources=VCPU:4", "1.4") == {"big"}
    unknown = api.get("/resource_providers?resources=NO_CLASS:1")
    assert "Invalid resource class in resources parameter" in error_of(unknown)["detail"]
    bad = api.get("/resource_providers?resources=VCPU:0")
    assert "Requested resource VCPU requires amount >= 1. Got: 0." in error_of(bad)["detail"]


def test_in_tree_from_1_14(api):
    root = api.create_provider("root")
    api.create_provider("child", parent=root["uuid"])
    api.create_provider("other")
    assert api.get(f"/resource_providers?in_tree={root['uuid']}", version="1.13").status_code == 400
    assert _listed(api, f"in_tree={root['uuid']}", "1.14") == {"root", "child"}


def test_required_traits(api):
    fast = api.create_provider("fast")
    api.create_provider("plain")
    api.set_traits(fast["uuid"], "HW_CPU_X86_AVX2", "STORAGE_DISK_SSD")
    assert api.get("/resource_providers?required=HW_CPU_X86_AVX2", version="1.17").status_code == 400
    assert _listed(api, "required=HW_CPU_X86_AVX2", "1.18") == {"fast"}
    forbidden_early = api.get("/resource_providers?required=!HW_CPU_X86_AVX2", version="1.21")
    assert forbidden_early.status_code == 400
    assert _listed(api, "required=!HW_CPU_X86_AVX2", "1.22") == {"plain"}
    unknown = api.get("/resource_providers?required=BOGUS_TRAIT")
    assert "No such trait(s): BOGUS_TRAIT." in error_of(unknown)["detail"]


def test_required_any_of_and_repeats_from_1_39(api):
    api.set_traits(api.create_provider("avx")["uuid"], "HW_CPU_X86_AVX")
    api.set_traits(api.create_provider("sse")["uuid"], "HW_CPU_X86_SSE")
    api.set_traits(api.create_provider("both")["uuid"], "HW_CPU_X86_AVX", "HW_CPU_X86_SSE")
    any_of = "required=in:HW_CPU_X86_AVX,HW_CPU_X86_SSE"
    assert "only supported since microversion 1.39" in api.get(
        f"/resource_providers?{any_of}", version="1.38").text
    assert _listed(api, any_of) == {"avx", "sse", "both"}
    repeated = "required=HW_CPU_X86_AVX&required=HW_CPU_X86_SSE"
    assert _listed(api, repeated, "1.38") == {"sse", "both"}  # the last one counts
    assert _listed(api, repeated, "1.39") == {"both"}


def test_resources_beyond_any_max_unit_fit_nowhere(api):
    rp = api.create_provider("roomy")["uuid"]
    api.set_inventory(rp, VCPU={"total": 2147483647, "allocation_ratio": 1000.0})
    assert _listed(api, "resources=VCPU:2147483647") == {"roomy"}
    for amount in (2**31, 2**63, 2**70):
        assert _listed(api, f"resources=VCPU:{amount}") == set(), amount
    unknown = api.get(f"/resource_providers?resources=CUSTOM_NOPE:{2**70}")
    assert unknown.status_code == 400


def test_a_long_required_list_is_answered(api):
    api.set_traits(api.create_provider("both")["uuid"], "HW_CPU_X86_AVX", "HW_CPU_X86_SSE")
    api.set_traits(api.create_provider("avx")["uuid"], "HW_CPU_X86_AVX")
    names = ["HW_CPU_X86_AVX", "HW_CPU_X86_SSE"] * 750
    assert _listed(api, "required=" + ",".join(names)) == {"both"}
    assert _listed(api, "required=" + ",".join(names[::2])) == {"both", "avx"}
    any_of = "&".join(["required=in:HW_CPU_X86_SSE,HW_CPU_X86_AVX"] * 300)
    assert _listed(api, f"{any_of}&required=!HW_CPU_X86_SSE") == {"avx"}


def test_delete_takes_inventory_traits_and_aggregates_along(api):
    root = api.create_provider()["uuid"]
    child = api.create_provider(parent=root)["uuid"]
    api.post("/resource_classes", {"name": "CUSTOM_GONE"})
    api.set_inventory(child, CUSTOM_GONE=4)
    api.set_traits(child, "CUSTOM_ONLY_HERE")
    aggregate = new_uuid()
    api.set_aggregates(child, aggregate)
    assert api.delete(f"/resource_providers/{child}").status_code == 204
    assert api.get(f"/resource_providers/{child}/inventories").status_code == 404
    assert _listed(api, f"member_of={aggregate}") == set()
    # Nothing uses the class or the trait any more, and the parent is a leaf.
    assert api.delete("/traits/CUSTOM_ONLY_HERE").status_code == 204
    assert api.delete("/resource_classes/CUSTOM_GONE").status_code == 204
    assert api.delete(f"/resource_providers/{root}").status_code == 204


def test_in_tree_of_any_member_lists_the_whole_tree(api):
    root = api.create_provider("root")
    child = api.create_provider("child", parent=root["uuid"])
    api.create_provider("grandchild", parent=child["uuid"])
    api.create_provider("elsewhere")
    assert _listed(api, f"in_tree={child['uuid']}") == {"root", "child", "grandchild"}
    assert _listed(api, f"in_tree={new_uuid()}") == set()
