"""/resource_providers/{uuid}/aggregates (1.1; generations from 1.19)."""

from __future__ import annotations

from tests.api.client import error_of, new_uuid


def test_not_there_before_1_1(api):
    rp = api.create_provider()["uuid"]
    assert api.get(f"/resource_providers/{rp}/aggregates", version="1.0").status_code == 404


def test_list_form_before_1_19_does_not_bump_generation(api):
    rp = api.create_provider()["uuid"]
    aggregates = [new_uuid(), new_uuid()]
    response = api.put(f"/resource_providers/{rp}/aggregates", aggregates, version="1.18")
    assert response.status_code == 200
    assert response.json() == {"aggregates": aggregates}
    assert api.generation(rp) == 0
    listed = api.get(f"/resource_providers/{rp}/aggregates", version="1.18").json()
    assert sorted(listed["aggregates"]) == sorted(aggregates)


def test_generation_form_from_1_19(api):
    rp = api.create_provider()["uuid"]
    aggregate = new_uuid()
    response = api.put(
        f"/resource_providers/{rp}/aggregates",
        {"aggregates": [aggregate], "resource_provider_generation": 0},
        version="1.19",
    )
    assert response.json() == {"aggregates": [aggregate], "resource_provider_generation": 1}
    stale = api.put(
        f"/resource_providers/{rp}/aggregates",
        {"aggregates": [], "resource_provider_generation": 0},
    )
    assert stale.status_code == 409
    assert error_of(stale)["code"] == "placement.concurrent_update"
    # The old list form is refused from 1.19.
    assert api.put(f"/resource_providers/{rp}/aggregates", [aggregate]).status_code == 400


def test_bad_bodies(api):
    rp = api.create_provider()["uuid"]
    not_uuid = api.put(f"/resource_providers/{rp}/aggregates", ["not-a-uuid"], version="1.1")
    assert "is not a 'uuid'" in error_of(not_uuid)["detail"]
    same = new_uuid()
    twice = api.put(f"/resource_providers/{rp}/aggregates", [same, same], version="1.1")
    assert "has non-unique elements" in error_of(twice)["detail"]


def test_unknown_provider_is_404(api):
    assert api.get(f"/resource_providers/{new_uuid()}/aggregates").status_code == 404


def test_get_shows_the_generation_from_1_19(api):
    rp = api.create_provider()["uuid"]
    api.set_aggregates(rp, new_uuid())
    assert set(api.get(f"/resource_providers/{rp}/aggregates", version="1.18").json()) == {"aggregates"}
    body = api.get(f"/resource_providers/{rp}/aggregates", version="1.19").json()
    assert body["resource_provider_generation"] == api.generation(rp) == 1


def test_the_generation_form_is_refused_before_1_19(api):
    rp = api.create_provider()["uuid"]
    response = api.put(
        f"/resource_providers/{rp}/aggregates",
        {"aggregates": [new_uuid()], "resource_provider_generation": 0}, version="1.18",
    )
    assert response.status_code == 400
    assert "is not of type 'array'" in error_of(response)["detail"]


def test_put_replaces_the_whole_set(api):
    rp = api.create_provider()["uuid"]
    first, second = new_uuid(), new_uuid()
    api.set_aggregates(rp, first)
    api.set_aggregates(rp, second)
    assert api.get(f"/resource_providers/{rp}/aggregates").json()["aggregates"] == [second]
    api.set_aggregates(rp)
    assert api.get(f"/resource_providers/{rp}/aggregates").json()["aggregates"] == []


def test_put_on_an_unknown_provider_is_404(api):
    response = api.put(f"/resource_providers/{new_uuid()}/aggregates",
                       {"aggregates": [], "resource_provider_generation": 0})
    assert response.status_code == 404
