"""/allocations/{consumer_uuid}, POST /allocations (1.13) and
/resource_providers/{uuid}/allocations.

Writes become ``ConsumerClaim`` objects for ``store.write_allocations``,
which replaces each named consumer's allocations all or nothing.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.responses import Response

from berth.api.dispatch import json_answer, json_body
from berth.api.errors import CONCURRENT_UPDATE, ApiError, conflict, from_domain
from berth.api.microversion import versioned
from berth.api.request import ApiRequest
from berth.api.responses import empty_response, json_response, newest
from berth.api.schemas import allocation as schema
from berth.api.schemas.validation import is_uuid_like
from berth.placement import errors as domain
from berth.placement.model import NOT_CHECKED, ConsumerAllocations, ConsumerClaim

LIST = "placement:allocations:list"
MANAGE = "placement:allocations:manage"
UPDATE = "placement:allocations:update"
DELETE = "placement:allocations:delete"
PROVIDER_LIST = "placement:resource_providers:allocations:list"


# -- reading -----------------------------------------------------------------


def consumer_document(req: ApiRequest, found: ConsumerAllocations) -> dict:
    body: dict[str, Any] = {
        "allocations": {
            held.provider.uuid: {
                "generation": held.provider.generation,
                "resources": dict(held.resources),
            }
            for held in found.allocations
        }
    }
    consumer = found.consumer
    # Placement names the consumer only when it holds something.
    if found.allocations and consumer is not None and req.wants("1.12"):
        body["project_id"] = consumer.project_id
        body["user_id"] = consumer.user_id
        if req.wants("1.28"):
            body["consumer_generation"] = consumer.generation
        if req.wants("1.38"):
            body["consumer_type"] = consumer.consumer_type
    return body


@json_answer
def list_for_consumer(req: ApiRequest) -> Response:
    req.authorize(LIST)
    # An unknown consumer is not an error: it holds nothing.
    found = req.store.get_consumer_allocations(req.param("consumer_uuid"))
    return json_response(
        req, consumer_document(req, found), last_modified=newest([found.last_modified])
    )


@json_answer
def list_for_resource_provider(req: ApiRequest) -> Response:
    req.authorize(PROVIDER_LIST)
    provider_uuid = req.param("uuid")
    try:
        found = req.store.get_provider_allocations(provider_uuid)
    except domain.ResourceProviderNotFound as exc:
        raise ApiError(404, f"Resource provider '{provider_uuid}' not found: {exc}") from None
    with_generation = req.wants("1.28")
    allocations: dict[str, dict[str, Any]] = {}
    for usage in found.consumers:
        entry: dict[str, Any] = {"resources": dict(usage.resources)}
        if with_generation:
            entry["consumer_generation"] = usage.consumer_generation
        allocations[usage.consumer_uuid] = entry
    body = {
        "allocations": allocations,
        "resource_provider_generation": found.provider.generation,
    }
    return json_response(req, body, last_modified=newest([found.last_modified]))


# -- writing -----------------------------------------------------------------


def check_consumer_generation(req: ApiRequest, consumer_uuid: str, given: int | None) -> None:
    """Placement's early check of the generation a writer names (1.28); the
    store checks it again, atomically, when it writes."""
    consumer = req.store.get_consumer_allocations(consumer_uuid).consumer
    if consumer is None:
        if given is not None:
            raise conflict(
                f"consumer generation conflict - expected null but got {given}",
                code=CONCURRENT_UPDATE,
            )
    elif consumer.generation != given:
        raise conflict(
            "consumer generation conflict - expected "
            f"{consumer.generation} but got {given}",
            code=CONCURRENT_UPDATE,
        )


def claim_for(req: ApiRequest, consumer_uuid: str, entry: Mapping[str, Any]) -> ConsumerClaim:
    """One consumer's claim from its part of a (1.12 form) body."""
    project_id, user_id = entry.get("project_id"), entry.get("user_id")
    if project_id is None:
        # Before 1.8 writers named no owner: Placement's incomplete consumer.
        project_id = req.settings.placement.incomplete_consumer_project_id
        user_id = req.settings.placement.incomplete_consumer_user_id
    expected: Any = NOT_CHECKED
    if req.wants("1.28"):
        expected = entry.get("consumer_generation")
        check_consumer_generation(req, consumer_uuid, expected)
    return ConsumerClaim(
        consumer_uuid=consumer_uuid,
        project_id=project_id,
        user_id=user_id,
        allocations={
            provider_uuid: dict(held["resources"])
            for provider_uuid, held in entry["allocations"].items()
        },
        expected_generation=expected,
        consumer_type=entry.get("consumer_type") if req.wants("1.38") else None,
    )


def write_claims(
    req: ApiRequest,
    claims: Sequence[ConsumerClaim],
    not_found_message: Callable[[domain.NotFound], str],
) -> None:
    """Write the claims, with Placement's answers for what can go wrong."""
    try:
        req.store.write_allocations(claims)
    except domain.ResourceProviderNotFound as exc:
        raise ApiError(
            400, f"Allocation for resource provider '{exc.uuid}' that does not exist."
        ) from None
    except domain.NotFound as exc:
        raise ApiError(400, not_found_message(exc)) from None
    except domain.InvalidAllocation as exc:
        raise from_domain(exc, f"Unable to allocate inventory: {exc}") from None
    except domain.ConcurrentUpdate as exc:
        raise from_domain(
            exc, f"Inventory and/or allocations changed while attempting to allocate: {exc}"
        ) from None


def _as_dict_form(data: dict[str, Any]) -> dict[str, Any]:
    """A 1.0-1.11 list of allocations in the 1.12 dict form."""
    allocations = {
        item["resource_provider"]["uuid"]: {"resources": item["resources"]}
        for item in data["allocations"]
    }
    return {**data, "allocations": allocations}


def _set_consumer_allocations(req: ApiRequest, body_schema: dict) -> Response:
    req.authorize(UPDATE)
    consumer_uuid = req.param("consumer_uuid")
    if not is_uuid_like(consumer_uuid):
        raise ApiError(400, f"Malformed consumer_uuid: {consumer_uuid}")
    consumer_uuid = str(uuidlib.UUID(consumer_uuid))
    data = req.json(body_schema)
    if not req.wants("1.12"):
        data = _as_dict_form(data)
    claim = claim_for(req, consumer_uuid, data)
    write_claims(
        req, [claim],
        lambda exc: f"Unable to allocate inventory for consumer {consumer_uuid}: {exc}",
    )
    return empty_response(req)


@versioned("1.0", "1.7")
@json_body
def set_allocations_v1_0(req: ApiRequest) -> Response:
    return _set_consumer_allocations(req, schema.PUT_ALLOCATIONS)


@versioned("1.8", "1.11")
@json_body
def set_allocations_v1_8(req: ApiRequest) -> Response:
    return _set_consumer_allocations(req, schema.PUT_ALLOCATIONS_V1_8)


@versioned("1.12", "1.27")
@json_body
def set_allocations_v1_12(req: ApiRequest) -> Response:
    return _set_consumer_allocations(req, schema.PUT_ALLOCATIONS_V1_12)


@versioned("1.28", "1.33")
@json_body
def set_allocations_v1_28(req: ApiRequest) -> Response:
    return _set_consumer_allocations(req, schema.PUT_ALLOCATIONS_V1_28)


@versioned("1.34", "1.37")
@json_body
def set_allocations_v1_34(req: ApiRequest) -> Response:
    return _set_consumer_allocations(req, schema.PUT_ALLOCATIONS_V1_34)


@versioned("1.38")
@json_body
def set_allocations_v1_38(req: ApiRequest) -> Response:
    return _set_consumer_allocations(req, schema.PUT_ALLOCATIONS_V1_38)


def _post_schema(req: ApiRequest) -> dict:
    for version, body_schema in (
        ("1.38", schema.POST_ALLOCATIONS_V1_38),
        ("1.34", schema.POST_ALLOCATIONS_V1_34),
        ("1.28", schema.POST_ALLOCATIONS_V1_28),
    ):
        if req.wants(version):
            return body_schema
    return schema.POST_ALLOCATIONS_V1_13


def claims_for_consumers(req: ApiRequest, consumers: Mapping[str, Any]) -> list[ConsumerClaim]:
    return [claim_for(req, uuid, entry) for uuid, entry in consumers.items()]


@versioned("1.13")
@json_body
def set_allocations(req: ApiRequest) -> Response:
    """POST /allocations: replace several consumers' allocations at once."""
    req.authorize(MANAGE)
    data = req.json(_post_schema(req))
    claims = claims_for_consumers(req, data)
    write_claims(req, claims, lambda exc: f"Unable to allocate inventory {exc}")
    return empty_response(req)


def delete_allocations(req: ApiRequest) -> Response:
    req.authorize(DELETE)
    consumer_uuid = req.param("consumer_uuid")
    try:
        req.store.delete_consumer_allocations(consumer_uuid)
    except domain.NotFound:
        raise ApiError(404, f"No allocations for consumer '{consumer_uuid}'") from None
    return empty_response(req)
