"""Bad request bodies on every write: a 400 in the error format, and nothing
written. Writes that touch several things at once (consumers, providers,
classes) write all of them or none."""

from __future__ import annotations

import pytest

from tests.api.client import consumer_body, error_of, new_uuid


@pytest.fixture
def world(api):
    """A small placement: a tree with inventory, traits, an aggregate, a
    custom class and one consumer."""
    root = api.create_provider("root")["uuid"]
    child = api.create_provider("child", parent=root)["uuid"]
    api.post("/resource_classes", {"name": "CUSTOM_GOLD"})
    api.set_inventory(root, VCPU=8, CUSTOM_GOLD=4)
    api.set_traits(root, "HW_CPU_X86_AVX2", "CUSTOM_FAST")
    api.set_aggregates(root, new_uuid())
    consumer = new_uuid()
    assert api.allocate(consumer, {root: {"VCPU": 2}}, project="p", user="u").status_code == 204
    return {"root": root, "child": child, "consumer": consumer}


def snapshot(api, world) -> dict:
    """Everything the API shows about the placement."""
    providers = api.get("/resource_providers").json()["resource_providers"]
    state: dict = {
        "providers": providers,
        "classes": api.get("/resource_classes").json(),
        "traits": api.get("/traits?name=startswith:CUSTOM_").json(),
        "consumer": api.get(f"/allocations/{world['consumer']}").json(),
        "usages": api.get("/usages?project_id=p").json(),
    }
    for rp in providers:
        base = f"/resource_providers/{rp['uuid']}"
        for part in ("inventories", "traits", "aggregates", "allocations", "usages"):
            state[rp["uuid"], part] = api.get(f"{base}/{part}").json()
    return state


def _writes(world) -> list[tuple[str, str, str]]:
    root, consumer = world["root"], world["consumer"]
    return [
        ("POST", "/resource_providers", "1.39"),
        ("POST", "/resource_providers", "1.0"),
        ("PUT", f"/resource_providers/{root}", "1.39"),
        ("PUT", f"/resource_providers/{root}", "1.0"),
        ("POST", f"/resource_providers/{root}/inventories", "1.39"),
        ("PUT", f"/resource_providers/{root}/inventories", "1.39"),
        ("PUT", f"/resource_providers/{root}/inventories/VCPU", "1.39"),
        ("PUT", f"/resource_providers/{root}/aggregates", "1.18"),
        ("PUT", f"/resource_providers/{root}/aggregates", "1.19"),
        ("PUT", f"/resource_providers/{root}/traits", "1.39"),
        ("POST", "/allocations", "1.13"),
        ("POST", "/allocations", "1.39"),
        ("PUT", f"/allocations/{consumer}", "1.0"),
        ("PUT", f"/allocations/{consumer}", "1.8"),
        ("PUT", f"/allocations/{consumer}", "1.12"),
        ("PUT", f"/allocations/{consumer}", "1.28"),
        ("PUT", f"/allocations/{consumer}", "1.34"),
        ("PUT", f"/allocations/{consumer}", "1.38"),
        ("POST", "/reshaper", "1.30"),
        ("POST", "/reshaper", "1.39"),
        ("POST", "/resource_classes", "1.39"),
        ("PUT", "/resource_classes/CUSTOM_GOLD", "1.6"),
    ]


BAD_BODIES = {
    "malformed": (b'{"name": ', "Malformed JSON"),
    "truncated": (b'{"allocations": {', "Malformed JSON"),
    "not json": (b"name=thing", "Malformed JSON"),
    "a string": (b'"thing"', "JSON does not validate"),
    "a number": (b"42", "JSON does not validate"),
    "null": (b"null", "JSON does not validate"),
    "an unknown key": (b'{"unexpected_key": 1}', "JSON does not validate"),
}


@pytest.mark.parametrize("kind", list(BAD_BODIES))
def test_a_bad_body_is_400_and_writes_nothing(api, world, kind):
    content, message = BAD_BODIES[kind]
    before = snapshot(api, world)
    for method, path, version in _writes(world):
        response = api.request(
            method, path, version=version,
            content=content, headers={"content-type": "application/json"},
        )
        assert response.status_code == 400, (method, path, version, response.text)
        error = error_of(response)
        assert message in error["detail"], (method, path, version, error["detail"])
        assert error["title"] == "Bad Request"
    assert snapshot(api, world) == before


def test_an_empty_body_where_one_is_needed_is_400(api, world):
    before = snapshot(api, world)
    for method, path, version in _writes(world):
        response = api.request(
            method, path, version=version,
            content=b"", headers={"content-type": "application/json"},
        )
        assert response.status_code == 400, (method, path, version, response.text)
    assert snapshot(api, world) == before


# -- all or nothing ----------------------------------------------------------


def _owned(allocations: dict, generation=None) -> dict:
    """A newest-version consumer entry for project "p"."""
    return consumer_body(allocations, generation=generation, consumer_type="INSTANCE")


@pytest.mark.parametrize("second,status", [
    ("unknown provider", 400),
    ("over capacity", 409),
    ("no such inventory", 409),
    ("unknown class", 400),
    ("stale consumer generation", 409),
])
def test_post_allocations_writes_every_consumer_or_none(api, world, second, status):
    root = world["root"]
    bad = {
        "unknown provider": (new_uuid(), _owned({new_uuid(): {"VCPU": 1}})),
        "over capacity": (new_uuid(), _owned({root: {"VCPU": 7}})),
        "no such inventory": (new_uuid(), _owned({root: {"DISK_GB": 1}})),
        "unknown class": (new_uuid(), _owned({root: {"CUSTOM_NOPE": 1}})),
        "stale consumer generation": (world["consumer"], _owned({root: {"VCPU": 1}}, generation=7)),
    }[second]
    before = snapshot(api, world)
    fine = new_uuid()
    response = api.post("/allocations", {fine: _owned({root: {"CUSTOM_GOLD": 1}}), bad[0]: bad[1]})
    assert response.status_code == status, response.text
    assert api.get(f"/allocations/{fine}").json() == {"allocations": {}}
    assert snapshot(api, world) == before


def test_a_refused_allocation_keeps_the_consumer_as_it_was(api, world):
    root, consumer = world["root"], world["consumer"]
    before = snapshot(api, world)
    changed_owner = consumer_body(
        {root: {"VCPU": 100}}, project="other-p", user="other-u",
        generation=1, consumer_type="MIGRATION",
    )
    response = api.put(f"/allocations/{consumer}", changed_owner)
    assert response.status_code == 409
    assert "The requested amount would exceed the capacity" in error_of(response)["detail"]
    assert snapshot(api, world) == before


@pytest.mark.parametrize("problem,status", [
    ("an unknown class", 400),
    ("reserved above total", 400),
    ("an allocated class removed", 409),
])
def test_put_inventories_writes_every_class_or_none(api, world, problem, status):
    root = world["root"]
    wanted = {"VCPU": {"total": 16}, "CUSTOM_GOLD": {"total": 4}}
    if problem == "an unknown class":
        wanted["CUSTOM_NOPE"] = {"total": 1}
    elif problem == "reserved above total":
        wanted["DISK_GB"] = {"total": 4, "reserved": 5}
    else:
        api.allocate(new_uuid(), {root: {"CUSTOM_GOLD": 1}}, project="p")
        del wanted["CUSTOM_GOLD"]
    before = snapshot(api, world)
    response = api.put(
        f"/resource_providers/{root}/inventories",
        {"resource_provider_generation": api.generation(root), "inventories": wanted},
    )
    assert response.status_code == status, response.text
    assert snapshot(api, world) == before


def test_put_provider_traits_sets_every_trait_or_none(api, world):
    root = world["root"]
    before = snapshot(api, world)
    response = api.put(
        f"/resource_providers/{root}/traits",
        {"traits": ["HW_CPU_X86_SSE", "CUSTOM_NOT_CREATED"],
         "resource_provider_generation": api.generation(root)},
    )
    assert response.status_code == 400
    assert "No such trait CUSTOM_NOT_CREATED" in error_of(response)["detail"]
    assert snapshot(api, world) == before


def test_create_provider_with_an_unknown_parent_creates_nothing(api, world):
    before = snapshot(api, world)
    response = api.post("/resource_providers", {"name": "orphan", "parent_provider_uuid": new_uuid()})
    assert response.status_code == 400
    assert snapshot(api, world) == before


def _reshape(api, world, allocations: dict, child_generation: int = 0) -> dict:
    root, child = world["root"], world["child"]
    return {
        "inventories": {
            root: {"resource_provider_generation": api.generation(root),
                   "inventories": {"VCPU": {"total": 8}}},
            child: {"resource_provider_generation": child_generation,
                    "inventories": {"CUSTOM_GOLD": {"total": 4}}},
        },
        "allocations": allocations,
    }


@pytest.mark.parametrize("problem,status", [
    ("over capacity", 409),
    ("unknown provider", 400),
    ("stale consumer generation", 409),
    ("stale provider generation", 409),
])
def test_reshape_changes_everything_or_nothing(api, world, problem, status):
    child, consumer = world["child"], world["consumer"]
    allocations = {
        "over capacity": {new_uuid(): _owned({child: {"CUSTOM_GOLD": 5}})},
        "unknown provider": {new_uuid(): _owned({new_uuid(): {"CUSTOM_GOLD": 1}})},
        "stale consumer generation": {consumer: _owned({child: {"CUSTOM_GOLD": 1}}, generation=5)},
        "stale provider generation": {new_uuid(): _owned({child: {"CUSTOM_GOLD": 1}})},
    }[problem]
    child_generation = 3 if problem == "stale provider generation" else 0
    before = snapshot(api, world)
    response = api.post("/reshaper", _reshape(api, world, allocations, child_generation))
    assert response.status_code == status, response.text
    assert snapshot(api, world) == before


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_malformed_json(api, world, constant):
    root = world["root"]
    before = snapshot(api, world)
    for method, path, template in (
        ("PUT", f"/resource_providers/{root}/inventories",
         '{"resource_provider_generation": %d, "inventories": {"VCPU": {"total": 8, "allocation_ratio": %s}}}'),
        ("PUT", f"/resource_providers/{root}/inventories/VCPU",
         '{"resource_provider_generation": %d, "total": 8, "allocation_ratio": %s}'),
        ("POST", "/reshaper",
         '{"inventories": {"' + root + '": {"resource_provider_generation": %d, '
         '"inventories": {"VCPU": {"total": 8, "allocation_ratio": %s}}}}, "allocations": {}}'),
    ):
        content = (template % (api.generation(root), constant)).encode()
        response = api.request(method, path, content=content, headers={"content-type": "application/json"})
        assert response.status_code == 400, (method, path, response.text)
        assert f"Malformed JSON: {constant} is not a JSON number" in error_of(response)["detail"]
    assert snapshot(api, world) == before
