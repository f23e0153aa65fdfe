"""The error body and the domain-error table."""

from __future__ import annotations

import orjson
import pytest

from berth.api import errors, microversion
from berth.placement import errors as domain

CTX = errors.ErrorContext(request_id="req-1", version=microversion.parse("1.23"))


def test_detail_is_shaped_like_placement():
    assert errors.json_detail(404, "", CTX) == "The resource could not be found.\n\n   "
    assert errors.json_detail(409, "two\nlines", CTX).endswith("\n\n two lines  ")
    assert errors.json_detail(405, "x", errors.ErrorContext("r", method="PATCH")) == (
        "The method PATCH is not allowed for this resource. \n\n x"
    )


def test_code_from_1_23_and_request_id_always():
    body = errors.error_document(errors.ApiError(409, "x", code=errors.CONCURRENT_UPDATE), CTX)
    assert body["errors"][0]["code"] == "placement.concurrent_update"
    assert body["errors"][0]["request_id"] == "req-1"
    old = errors.ErrorContext("req-2", version=microversion.parse("1.22"))
    assert "code" not in errors.error_document(errors.ApiError(404), old)["errors"][0]
    assert errors.error_document(errors.ApiError(404), CTX)["errors"][0]["code"] == errors.DEFAULT


def test_failed_negotiation_names_the_versions():
    body = errors.error_document(errors.ApiError(406, "no"), errors.ErrorContext("r"))
    assert (body["errors"][0]["min_version"], body["errors"][0]["max_version"]) == ("1.0", "1.39")


@pytest.mark.parametrize("exc,status,code", [
    (domain.ConcurrentUpdate(), 409, errors.CONCURRENT_UPDATE),
    (domain.DuplicateProviderName("n"), 409, errors.DUPLICATE_NAME),
    (domain.ProviderExists("u"), 409, errors.DUPLICATE_NAME),
    (domain.ProviderInUse(), 409, errors.PROVIDER_IN_USE),
    (domain.CannotDeleteParent("u"), 409, errors.PROVIDER_CANNOT_DELETE_PARENT),
    (domain.InventoryInUse("u", ["VCPU"]), 409, errors.INVENTORY_INUSE),
    (domain.CapacityExceeded("u", "VCPU"), 409, None),
    (domain.ResourceProviderNotFound("u"), 404, None),
    (domain.TraitNotFound("T"), 404, None),
    (domain.InvalidParent("loop"), 400, None),
])
def test_domain_table(exc, status, code):
    err = errors.from_domain(exc)
    assert (err.status, err.code, err.detail) == (status, code, str(exc))


def test_not_found_in_a_body_is_400():
    assert errors.from_domain(domain.ResourceClassNotFound("X"), "m", in_body=True).status == 400


def test_unknown_domain_error_is_not_translated():
    with pytest.raises(domain.BerthError):
        errors.from_domain(domain.BerthError("?"))


def test_render_by_accept():
    err = errors.ApiError(404, "gone")
    body, kind = errors.render(err, CTX)
    assert kind == "application/json" and orjson.loads(body)["errors"][0]["status"] == 404
    html, kind = errors.render(err, errors.ErrorContext("r", accept="text/html"))
    assert kind.startswith("text/html") and b"<h1>404 Not Found</h1>" in html
    plain, kind = errors.render(err, errors.ErrorContext("r", accept="text/plain"))
    assert kind.startswith("text/plain") and plain.startswith(b"404 Not Found")


def test_an_unavailable_store_is_a_503():
    err = errors.from_domain(domain.StoreUnavailable("replicas down"))
    assert (err.status, err.detail) == (503, "replicas down")
