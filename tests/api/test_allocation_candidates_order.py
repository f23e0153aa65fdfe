"""Which candidates an answer holds and in what order: creation order by
default, random with randomize_allocation_candidates, and always as of the
last committed write."""

from __future__ import annotations

import pytest

from berth.config import PlacementSettings
from tests.api.client import new_uuid

AC = "/allocation_candidates"


@pytest.fixture
def fleet(api) -> list[str]:
    """Twenty compute nodes, in creation order."""
    nodes = []
    for number in range(20):
        uuid = api.create_provider(f"compute-{number:02}")["uuid"]
        api.set_inventory(uuid, VCPU=4, MEMORY_MB=1024)
        nodes.append(uuid)
    return nodes


def chosen(api, query: str) -> list[str]:
    body = api.get(f"{AC}?{query}").json()
    return [next(iter(request["allocations"])) for request in body["allocation_requests"]]


def test_candidates_come_in_creation_order(api, fleet):
    assert chosen(api, "resources=VCPU:1") == fleet
    assert chosen(api, "resources=VCPU:1&limit=5") == fleet[:5]


def test_randomized_candidates_vary_and_stay_complete(make_api, fleet):
    api = make_api(placement=PlacementSettings(randomize_allocation_candidates=True))
    firsts = {chosen(api, "resources=VCPU:1&limit=1")[0] for _ in range(12)}
    # Twelve draws of one node among twenty all landing on one node would
    # happen with probability 20 ** -11 if the choice were uniform.
    assert len(firsts) > 1
    assert firsts <= set(fleet)
    every = chosen(api, "resources=VCPU:1")
    assert sorted(every) == sorted(fleet)
    assert every != fleet  # creation order again: one chance in 20!


def test_limited_summaries_cover_only_the_chosen(api, fleet):
    body = api.get(f"{AC}?resources=VCPU:1&limit=3").json()
    assert set(body["provider_summaries"]) == set(fleet[:3])


def test_a_write_is_seen_by_the_next_search(api, fleet):
    full, other = fleet[0], fleet[1]
    assert api.allocate(new_uuid(), {full: {"VCPU": 4}}).status_code == 204
    assert full not in chosen(api, "resources=VCPU:1")
    api.set_traits(other, "CUSTOM_FAST")
    assert chosen(api, "resources=VCPU:1&required=CUSTOM_FAST") == [other]
    assert api.delete(f"/resource_providers/{fleet[2]}").status_code == 204
    assert fleet[2] not in chosen(api, "resources=VCPU:1")
    summary = api.get(f"{AC}?resources=VCPU:1&limit=1").json()["provider_summaries"]
    assert summary == {other: {
        "resources": {"VCPU": {"capacity": 4, "used": 0}, "MEMORY_MB": {"capacity": 1024, "used": 0}},
        "traits": ["CUSTOM_FAST"],
        "parent_provider_uuid": None,
        "root_provider_uuid": other,
    }}


def test_an_amount_beyond_any_inventory_finds_nothing(api, fleet):
    body = api.get(f"{AC}?resources=VCPU:{2 ** 70}").json()
    assert body == {"allocation_requests": [], "provider_summaries": {}}
