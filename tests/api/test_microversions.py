"""Every route and method of the route table, at the edge of the versions it
is served in; microversion negotiation over HTTP; the caching headers that
start at 1.15. The boundaries of a single resource's behaviour are tested in
that resource's file."""

from __future__ import annotations

import re

import pytest

from berth.api import microversion
from berth.api.routes import ROUTES
from tests.api.client import error_of, new_uuid

HTTP_DATE = re.compile(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$")

# Placement 16.0.0's operations (placement/handler.py ROUTE_DECLARATIONS and
# the handlers' @version_handler), with the version each one appears in.
PLACEMENT_OPERATIONS = {
    ("GET", "/"): "1.0",
    ("GET", "/resource_classes"): "1.2",
    ("POST", "/resource_classes"): "1.2",
    ("GET", "/resource_classes/{name}"): "1.2",
    ("PUT", "/resource_classes/{name}"): "1.2",
    ("DELETE", "/resource_classes/{name}"): "1.2",
    ("GET", "/resource_providers"): "1.0",
    ("POST", "/resource_providers"): "1.0",
    ("GET", "/resource_providers/{uuid}"): "1.0",
    ("PUT", "/resource_providers/{uuid}"): "1.0",
    ("DELETE", "/resource_providers/{uuid}"): "1.0",
    ("GET", "/resource_providers/{uuid}/inventories"): "1.0",
    ("POST", "/resource_providers/{uuid}/inventories"): "1.0",
    ("PUT", "/resource_providers/{uuid}/inventories"): "1.0",
    ("DELETE", "/resource_providers/{uuid}/inventories"): "1.5",
    ("GET", "/resource_providers/{uuid}/inventories/{resource_class}"): "1.0",
    ("PUT", "/resource_providers/{uuid}/inventories/{resource_class}"): "1.0",
    ("DELETE", "/resource_providers/{uuid}/inventories/{resource_class}"): "1.0",
    ("GET", "/resource_providers/{uuid}/usages"): "1.0",
    ("GET", "/resource_providers/{uuid}/aggregates"): "1.1",
    ("PUT", "/resource_providers/{uuid}/aggregates"): "1.1",
    ("GET", "/resource_providers/{uuid}/allocations"): "1.0",
    ("POST", "/allocations"): "1.13",
    ("GET", "/allocations/{consumer_uuid}"): "1.0",
    ("PUT", "/allocations/{consumer_uuid}"): "1.0",
    ("DELETE", "/allocations/{consumer_uuid}"): "1.0",
    ("GET", "/allocation_candidates"): "1.10",
    ("GET", "/traits"): "1.6",
    ("GET", "/traits/{name}"): "1.6",
    ("PUT", "/traits/{name}"): "1.6",
    ("DELETE", "/traits/{name}"): "1.6",
    ("GET", "/resource_providers/{uuid}/traits"): "1.6",
    ("PUT", "/resource_providers/{uuid}/traits"): "1.6",
    ("DELETE", "/resource_providers/{uuid}/traits"): "1.6",
    ("GET", "/usages"): "1.9",
    ("POST", "/reshaper"): "1.30",
}


def _served() -> dict[tuple[str, str], str]:
    """(method, path) -> the first version the route table serves it at."""
    return {
        (method, path): str(min(microversion.version_range(h).minimum for h in handlers))
        for path, methods in ROUTES.items()
        for method, handlers in methods.items()
    }


def test_the_route_table_has_every_placement_operation_and_no_other():
    assert _served() == PLACEMENT_OPERATIONS


def _concrete(path: str) -> str:
    """The path with its parameters filled in (things that do not exist:
    a handler's own 404 says what is missing, a version 404 says nothing)."""
    return (
        path.replace("{uuid}", new_uuid())
        .replace("{consumer_uuid}", new_uuid())
        .replace("{resource_class}", "VCPU")
        .replace("{name}", "CUSTOM_NOT_THERE")
    )


def _previous(version: str) -> str:
    return microversion.VERSIONS[microversion.VERSIONS.index(version) - 1]


def _operations_with_a_minimum():
    for (method, path), minimum in sorted(_served().items()):
        if minimum != "1.0":
            yield pytest.param(method, path, minimum, id=f"{method} {path}")


def _is_version_refusal(response, status: int) -> bool:
    """Refused for its version: the status with the bare explanation, and no
    message of a handler after it."""
    if response.status_code != status:
        return False
    return error_of(response)["detail"].split("\n\n", 1)[1].strip() == ""


@pytest.mark.parametrize("method,path,minimum", list(_operations_with_a_minimum()))
def test_operation_is_refused_below_its_version_and_served_from_it(api, method, path, minimum):
    url = _concrete(path)
    body = {} if method in ("PUT", "POST") else None
    below = api.request(method, url, body, version=_previous(minimum))
    # DELETE of all inventories is the one route Placement answers 405.
    refusal = 405 if (method, path) == ("DELETE", "/resource_providers/{uuid}/inventories") else 404
    assert _is_version_refusal(below, refusal), below.text
    assert below.headers["openstack-api-version"] == f"placement {_previous(minimum)}"
    served = api.request(method, url, body, version=minimum)
    assert not _is_version_refusal(served, 404), served.text
    assert served.status_code != 405


def _every_operation():
    for (method, path) in sorted(_served()):
        yield pytest.param(method, path, id=f"{method} {path}")


@pytest.mark.parametrize("method,path", list(_every_operation()))
def test_every_operation_is_served_at_the_newest_version(api, method, path):
    body = {} if method in ("PUT", "POST") else None
    response = api.request(method, _concrete(path), body, version="latest")
    assert not _is_version_refusal(response, 404), response.text
    assert response.status_code not in (405, 500), response.text
    assert response.headers["openstack-api-version"] == "placement 1.39"


def _paths_with_missing_methods():
    for path, methods in sorted(ROUTES.items()):
        others = sorted({"GET", "PUT", "POST", "DELETE", "PATCH"} - set(methods))
        yield pytest.param(path, others, ", ".join(methods), id=path)


@pytest.mark.parametrize("path,others,allow", list(_paths_with_missing_methods()))
def test_other_methods_are_405_with_allow(api, path, others, allow):
    for method in others:
        response = api.request(method, _concrete(path), version="1.0")
        assert response.status_code == 405, (method, response.text)
        assert response.headers["allow"] == allow
        assert f"The method {method} is not allowed for this resource." in error_of(response)["detail"]


# -- negotiation ---------------------------------------------------------------


def test_no_header_is_version_1_0(api):
    rp = api.create_provider()
    response = api.get(f"/resource_providers/{rp['uuid']}", version=None)
    assert response.headers["openstack-api-version"] == "placement 1.0"
    # 1.0's view of a provider: no parent or root, no aggregates link.
    assert "root_provider_uuid" not in response.json()
    assert [link["rel"] for link in response.json()["links"]] == ["self", "inventories", "usages"]
    assert api.get("/resource_classes", version=None).status_code == 404


@pytest.mark.parametrize("header,answered", [
    ("placement latest", "placement 1.39"),
    ("placement 1.39", "placement 1.39"),
    ("placement 1.10", "placement 1.10"),
    ("PLACEMENT 1.5", "placement 1.5"),
    # Another service's version is not ours: 1.0.
    ("compute 2.50", "placement 1.0"),
    ("compute 2.50, placement 1.22", "placement 1.22"),
])
def test_the_version_header_is_read_as_microversion_parse_does(api, header, answered):
    response = api.get(
        "/resource_providers", version=None, headers={"openstack-api-version": header}
    )
    assert response.status_code == 200
    assert response.headers["openstack-api-version"] == answered
    assert response.headers["vary"] == "openstack-api-version"


@pytest.mark.parametrize("version", ["1.40", "2.0", "0.9"])
def test_a_version_outside_the_range_is_406(api, version):
    response = api.get("/resource_providers", version=version)
    assert response.status_code == 406
    error = error_of(response)
    assert error["title"] == "Not Acceptable"
    assert f"Unacceptable version header: {version}" in error["detail"]
    assert (error["min_version"], error["max_version"]) == ("1.0", "1.39")
    assert "openstack-api-version" not in response.headers


@pytest.mark.parametrize("version", ["1.2.3", "1", "one.two", "1.x"])
def test_a_malformed_version_is_400(api, version):
    response = api.get("/resource_providers", version=version)
    assert response.status_code == 400
    assert "invalid version string" in error_of(response)["detail"]
    assert "openstack-api-version" not in response.headers


# -- the error format ------------------------------------------------------------


def _error_answers(api):
    """One request per error status, by microversion. (A 406 for Accept is
    not JSON: its body follows the Accept that refused JSON.)"""
    rp = api.create_provider()["uuid"]
    return {
        400: lambda v: api.get("/resource_providers?uuid=not-a-uuid", version=v),
        404: lambda v: api.get(f"/resource_providers/{new_uuid()}", version=v),
        405: lambda v: api.request("PATCH", "/resource_providers", version=v),
        409: lambda v: api.put(
            f"/resource_providers/{rp}/traits",
            {"traits": [], "resource_provider_generation": 99}, version=v,
        ),
        415: lambda v: api.request(
            "POST", "/resource_providers", version=v,
            content=b"{}", headers={"content-type": "text/plain"},
        ),
    }


@pytest.mark.parametrize("version,fields", [
    ("1.22", {"status", "title", "detail", "request_id"}),
    ("1.23", {"status", "title", "detail", "request_id", "code"}),
])
def test_errors_have_the_api_wg_shape_and_code_from_1_23(api, version, fields):
    for status, send in _error_answers(api).items():
        response = send(version)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        errors = response.json()["errors"]
        assert len(errors) == 1
        error = errors[0]
        assert set(error) == fields, (status, error)
        assert error["status"] == status
        assert error["request_id"] == response.headers["x-openstack-request-id"]
        assert error["detail"]


def test_code_is_specific_where_placement_has_one(api):
    rp = api.create_provider()["uuid"]
    stale = api.put(f"/resource_providers/{rp}/traits",
                    {"traits": [], "resource_provider_generation": 99})
    assert error_of(stale)["code"] == "placement.concurrent_update"
    missing = api.get(f"/resource_providers/{new_uuid()}")
    assert error_of(missing)["code"] == "placement.undefined_code"


def test_an_inbound_request_id_is_not_taken_as_ours(api):
    response = api.get(f"/resource_providers/{new_uuid()}",
                       headers={"x-openstack-request-id": "req-from-the-client"})
    assert response.headers["x-openstack-request-id"] != "req-from-the-client"
    assert error_of(response)["request_id"] == response.headers["x-openstack-request-id"]


# -- 1.15: last-modified and cache-control -------------------------------------


@pytest.fixture
def populated(api):
    rp = api.create_provider()["uuid"]
    api.set_inventory(rp, VCPU=8)
    consumer = new_uuid()
    assert api.allocate(consumer, {rp: {"VCPU": 1}}, project="p").status_code == 204
    return {"rp": rp, "consumer": consumer}


CACHEABLE_GETS = [
    "/",
    "/resource_providers",
    "/resource_providers/{rp}",
    "/resource_providers/{rp}/inventories",
    "/resource_providers/{rp}/inventories/VCPU",
    "/resource_providers/{rp}/usages",
    "/resource_providers/{rp}/aggregates",
    "/resource_providers/{rp}/allocations",
    "/resource_providers/{rp}/traits",
    "/allocations/{consumer}",
    "/resource_classes",
    "/resource_classes/VCPU",
    "/traits",
    "/traits/HW_CPU_X86_AVX2",
    "/usages?project_id=p",
]


@pytest.mark.parametrize("path", CACHEABLE_GETS)
def test_gets_carry_cache_headers_from_1_15(api, populated, path):
    url = path.format(**populated)
    before = api.get(url, version="1.14")
    assert before.status_code in (200, 204), before.text
    assert "last-modified" not in before.headers
    assert "cache-control" not in before.headers
    after = api.get(url, version="1.15")
    assert after.status_code == before.status_code
    assert after.headers["cache-control"] == "no-cache"
    assert HTTP_DATE.match(after.headers["last-modified"])


def _writes_with_a_body(api, rp: str, version: str):
    """Writes that answer with a body (or, for traits, a bodiless 201 that
    Placement still dates)."""
    suffix = version.replace(".", "_")
    generation = api.generation(rp)
    return {
        "PUT provider": api.put(f"/resource_providers/{rp}", {"name": f"n{suffix}"}, version=version),
        "PUT inventories": api.put(
            f"/resource_providers/{rp}/inventories",
            {"resource_provider_generation": generation,
             "inventories": {"VCPU": {"total": 8}, "DISK_GB": {"total": 10}}},
            version=version,
        ),
        "PUT one inventory": api.put(
            f"/resource_providers/{rp}/inventories/DISK_GB",
            {"resource_provider_generation": generation + 1, "total": 20}, version=version,
        ),
        "POST inventory": api.post(
            f"/resource_providers/{rp}/inventories",
            {"resource_class": "MEMORY_MB", "total": 64}, version=version,
        ),
        "PUT provider traits": api.put(
            f"/resource_providers/{rp}/traits",
            {"traits": ["HW_CPU_X86_AVX2"], "resource_provider_generation": generation + 3},
            version=version,
        ),
        "PUT aggregates": api.put(f"/resource_providers/{rp}/aggregates", [new_uuid()], version=version),
        "PUT trait": api.put(f"/traits/CUSTOM_T{suffix}", version=version),
    }


def test_writes_with_a_body_carry_cache_headers_from_1_15(api):
    for version, dated in (("1.14", False), ("1.15", True)):
        rp = api.create_provider()["uuid"]
        for label, response in _writes_with_a_body(api, rp, version).items():
            assert response.status_code in (200, 201), (label, response.text)
            assert ("last-modified" in response.headers) is dated, (version, label)
            assert ("cache-control" in response.headers) is dated, (version, label)


def test_bodiless_writes_carry_no_cache_headers(api, populated):
    rp = populated["rp"]
    answers = [
        api.post("/resource_providers", {"name": "old-style"}, version="1.19"),
        api.post("/resource_classes", {"name": "CUSTOM_DATED"}),
        api.put("/resource_classes/CUSTOM_DATED2"),
        api.delete(f"/resource_providers/{rp}/traits"),
        api.allocate(new_uuid(), {rp: {"VCPU": 1}}),
        api.delete(f"/allocations/{populated['consumer']}"),
    ]
    for response in answers:
        assert response.status_code in (201, 204), response.text
        assert "last-modified" not in response.headers
        assert response.content == b""


def test_vary_comes_with_handler_answers_not_with_errors_raised_around_them(api):
    """Placement's microversion middleware adds ``vary`` to what a handler
    answers, errors included, but not to errors raised past the handler:
    routing 404s and a provider its handler did not look for itself."""
    rp = api.create_provider()["uuid"]
    assert api.get(f"/resource_providers/{rp}").headers["vary"] == "openstack-api-version"
    stale = api.put(f"/resource_providers/{rp}/traits",
                    {"traits": [], "resource_provider_generation": 9})
    assert stale.status_code == 409 and stale.headers["vary"] == "openstack-api-version"
    handled = api.get(f"/resource_providers/{new_uuid()}/inventories")
    assert handled.status_code == 404 and handled.headers["vary"] == "openstack-api-version"
    for raised in (api.get("/no_such_thing"), api.get(f"/resource_providers/{new_uuid()}")):
        assert raised.status_code == 404
        assert "vary" not in raised.headers
        assert raised.headers["openstack-api-version"] == "placement 1.39"
