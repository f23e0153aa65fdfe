"""berth's own scheduling API: POST /selections, claiming an alternate by
its id, and a provider's cell; microversioned, in the error format, under
policy."""

from __future__ import annotations

from tests.api.client import error_of, new_uuid


def _host(api, vcpu: int = 8, cell: str | None = None) -> str:
    rp = api.create_provider()
    api.set_inventory(rp["uuid"], VCPU=vcpu, MEMORY_MB=4096)
    if cell is not None:
        assert api.put(f"/resource_providers/{rp['uuid']}/cell", {"cell": cell}).status_code == 200
    return rp["uuid"]


def _spec(**extra) -> dict:
    return {"project_id": "p", "user_id": "u", "resources": {"VCPU": 2}, **extra}


def test_select_claims_the_host_and_returns_same_cell_alternates(api):
    in_c1 = [_host(api, cell="c1") for _ in range(3)]
    _host(api, cell="c2")
    response = api.post("/selections", {
        "spec": _spec(hints={"cell": "c1"}), "num_instances": 2, "num_alternates": 2,
    })
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["selections"]) == 2
    for instance in body["selections"]:
        chosen, *alternates = instance["hosts"]
        assert chosen["claimed"] and chosen["alternate_id"] is None
        assert chosen["resource_provider_uuid"] in in_c1 and chosen["cell"] == "c1"
        assert chosen["allocation_request"]["allocations"] == {
            chosen["resource_provider_uuid"]: {"resources": {"VCPU": 2}}
        }
        assert len(alternates) == 2
        assert all(not a["claimed"] and a["alternate_id"] and a["expires_at"].endswith("Z") for a in alternates)
        assert all(a["cell"] == "c1" for a in alternates)
        held = api.get(f"/allocations/{instance['consumer_uuid']}").json()["allocations"]
        assert list(held) == [chosen["resource_provider_uuid"]]
    assert body["explanation"]["chosen"][0]["weights"]
    assert body["claim_conflicts"] == 0


def test_an_alternate_is_claimed_by_its_id(api):
    for _ in range(2):
        _host(api)
    instance = api.post("/selections", {"spec": _spec(), "num_alternates": 1}).json()["selections"][0]
    alternate = instance["hosts"][1]
    url = f"/selections/alternates/{alternate['alternate_id']}/claim"
    response = api.post(url)
    assert response.status_code == 200, response.text
    assert response.json()["claimed"] and response.json()["resource_provider_uuid"] == alternate["resource_provider_uuid"]
    held = api.get(f"/allocations/{instance['consumer_uuid']}").json()["allocations"]
    assert list(held) == [alternate["resource_provider_uuid"]]
    # A second claim of the id (a retry after a lost answer) answers the same.
    again = api.post(url)
    assert again.status_code == 200 and again.json() == response.json()
    assert list(api.get(f"/allocations/{instance['consumer_uuid']}").json()["allocations"]) == [
        alternate["resource_provider_uuid"]
    ]


def test_an_id_berth_did_not_issue_is_a_404(api):
    for _ in range(2):
        _host(api)
    instance = api.post("/selections", {"spec": _spec(), "num_alternates": 1}).json()["selections"][0]
    alternate_id = instance["hosts"][1]["alternate_id"]
    tampered = alternate_id[:-3] + ("AAA" if alternate_id[-3:] != "AAA" else "BBB")
    for wrong in (new_uuid(), tampered, "%2E%2E", "x" * 3000):
        response = api.post(f"/selections/alternates/{wrong}/claim")
        assert response.status_code == 404, response.text
        assert error_of(response)["code"] == "berth.scheduler.alternate_not_found"
    assert "signature does not match" in error_of(api.post(f"/selections/alternates/{tampered}/claim"))["detail"]


def test_no_valid_host_is_a_409_that_explains(api):
    _host(api, vcpu=4)
    response = api.post("/selections", {"spec": _spec(resources={"VCPU": 16})})
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "berth.scheduler.no_valid_host"
    assert "VCPU:16 (no host)" in error["detail"]
    assert "Closest:" in error["detail"]


def test_an_instance_that_holds_allocations_is_not_placed_again(api):
    _host(api)
    first = api.post("/selections", {"spec": _spec()}).json()["selections"][0]
    response = api.post("/selections", {"spec": _spec(instance_uuids=[first["consumer_uuid"]])})
    assert response.status_code == 409
    assert error_of(response)["code"] == "berth.scheduler.consumer_exists"


def test_bad_specs_are_400(api):
    _host(api)
    for body in (
        {"spec": {"resources": {"VCPU": 1}}},  # no project or user
        {"spec": _spec(), "num_instances": 0},
        {"spec": _spec(resources={"VCPU": 0})},
        {"spec": _spec(hints={"server_group": {"uuid": new_uuid(), "policy": "sideways"}})},
        {"spec": _spec(resources={"CUSTOM_NOPE": 1})},
        {"spec": _spec(required=["CUSTOM_NOT_A_TRAIT"])},
        {"spec": _spec(), "surprise": 1},
        {"spec": _spec(instance_uuids=[same := new_uuid(), same]), "num_instances": 2},
    ):
        response = api.post("/selections", body)
        assert response.status_code == 400, (body, response.text)


def test_granular_groups_and_traits(api):
    plain = _host(api)
    avx = _host(api)
    api.set_traits(avx, "HW_CPU_X86_AVX2")
    spec = {
        "project_id": "p", "user_id": "u",
        "groups": {"1": {"resources": {"VCPU": 1}, "required": [["HW_CPU_X86_AVX2", "HW_CPU_X86_AVX512F"]]}},
    }
    response = api.post("/selections", {"spec": spec})
    assert response.status_code == 200, response.text
    chosen = response.json()["selections"][0]["hosts"][0]
    assert chosen["resource_provider_uuid"] == avx != plain
    assert chosen["allocation_request"]["mappings"] == {"1": [avx]}


def test_berths_routes_start_at_1_39(api):
    rp = _host(api)
    assert api.post("/selections", {"spec": _spec()}, version="1.38").status_code == 404
    assert api.get(f"/resource_providers/{rp}/cell", version="1.38").status_code == 404
    assert api.get(f"/resource_providers/{rp}/cell", version=None).status_code == 404


def test_the_cell_of_a_provider(api):
    rp = _host(api)
    assert api.get(f"/resource_providers/{rp}/cell").json() == {"cell": None}
    assert api.put(f"/resource_providers/{rp}/cell", {"cell": "east"}).json() == {"cell": "east"}
    assert api.get(f"/resource_providers/{rp}/cell").json() == {"cell": "east"}
    # Placement's own view of the provider is unchanged.
    assert "cell" not in api.get(f"/resource_providers/{rp}").json()
    assert api.put(f"/resource_providers/{rp}/cell", {"cell": ""}).status_code == 400
    assert api.put(f"/resource_providers/{new_uuid()}/cell", {"cell": "x"}).status_code == 404


def test_policy_refuses_a_user_without_roles(api):
    rp = _host(api)
    assert api.post("/selections", {"spec": _spec()}, token="user").status_code == 403
    assert api.get(f"/resource_providers/{rp}/cell", token="user").status_code == 403
    assert api.post(f"/selections/alternates/{new_uuid()}/claim", token="user").status_code == 403


def test_max_instances_per_host_counts_instances_placed_by_earlier_requests(api):
    host = _host(api, vcpu=16)
    capped = {"spec": _spec(hints={"max_instances_per_host": 2})}
    for _ in range(2):
        chosen = api.post("/selections", capped).json()["selections"][0]["hosts"][0]
        assert chosen["resource_provider_uuid"] == host
    response = api.post("/selections", capped)
    assert response.status_code == 409
    assert error_of(response)["code"] == "berth.scheduler.no_valid_host"
    assert "already holds 2 instance(s), at most 2 per host" in error_of(response)["detail"]


def test_selections_and_allocation_candidates_share_one_index(api, store):
    """One candidate index per process: /selections schedules on the finder
    that answers GET /allocation_candidates, so a process keeps one copy of
    the fleet, and both see the same hosts."""
    from berth.api.handlers.selection import _SCHEDULERS

    host = _host(api)
    candidates = api.get("/allocation_candidates?resources=VCPU:2").json()["allocation_requests"]
    assert [next(iter(c["allocations"])) for c in candidates] == [host]
    chosen = api.post("/selections", {"spec": _spec()}).json()["selections"][0]["hosts"][0]
    assert chosen["resource_provider_uuid"] == host
    finder = api.client.app.state.services.candidates
    assert _SCHEDULERS[store].finder is finder
    assert finder.index.slot_of.keys() == {host}
