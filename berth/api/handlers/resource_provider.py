"""/resource_providers and /resource_providers/{uuid}."""

from __future__ import annotations

import uuid as uuidlib

from starlette.responses import Response

from berth.api import query
from berth.api.dispatch import json_answer, json_body
from berth.api.errors import ApiError, from_domain
from berth.api.request import ApiRequest
from berth.api.responses import empty_response, json_response, newest
from berth.api.schemas import resource_provider as schema
from berth.placement import errors as domain
from berth.placement.model import MAX_INT, ResourceProvider
from berth.placement.query import ProviderQuery

LIST = "placement:resource_providers:list"
CREATE = "placement:resource_providers:create"
SHOW = "placement:resource_providers:show"
UPDATE = "placement:resource_providers:update"
DELETE = "placement:resource_providers:delete"


def provider_url(req: ApiRequest, provider_uuid: str) -> str:
    return req.url(f"/resource_providers/{provider_uuid}")


def _links(req: ApiRequest, provider: ResourceProvider) -> list[dict[str, str]]:
    url = provider_url(req, provider.uuid)
    relations = ["inventories", "usages"]
    for version, relation in (("1.1", "aggregates"), ("1.6", "traits"), ("1.11", "allocations")):
        if req.wants(version):
            relations.append(relation)
    return [{"rel": "self", "href": url}] + [
        {"rel": relation, "href": f"{url}/{relation}"} for relation in relations
    ]


def serialize_provider(req: ApiRequest, provider: ResourceProvider) -> dict:
    data: dict[str, object] = {
        "uuid": provider.uuid,
        "name": provider.name,
        "generation": provider.generation,
        "links": _links(req, provider),
    }
    if req.wants("1.14"):
        data["parent_provider_uuid"] = provider.parent_provider_uuid
        data["root_provider_uuid"] = provider.root_provider_uuid
    return data


def _check_names_exist(req: ApiRequest, provider_query: ProviderQuery) -> None:
    """Unknown classes or traits are the caller's error (Placement resolves
    every name before it searches)."""
    for name in provider_query.resources:
        req.store.get_resource_class(name)
    wanted = provider_query.traits.names
    if wanted:
        known = {trait.name for trait in req.store.list_traits(names=sorted(wanted))}
        if wanted - known:
            raise domain.TraitNotFound(sorted(wanted - known))


def _fits_nowhere(provider_query: ProviderQuery) -> bool:
    """An amount above MAX_INT exceeds every max_unit (the inventory schema
    caps it there), so no provider can fit it. Answered here so that such a
    number never reaches an SQL integer column (SQLite cannot bind it)."""
    return any(amount > MAX_INT for amount in provider_query.resources.values())


@json_answer
def list_resource_providers(req: ApiRequest) -> Response:
    req.authorize(LIST)
    provider_query = query.provider_query(req)
    try:
        _check_names_exist(req, provider_query)
        providers = [] if _fits_nowhere(provider_query) else req.store.list_providers(provider_query)
    except domain.ResourceClassNotFound as exc:
        raise ApiError(400, f"Invalid resource class in resources parameter: {exc}") from None
    except domain.TraitNotFound as exc:
        raise ApiError(400, f'Invalid trait(s) in "required" parameter: {exc}') from None
    body = {"resource_providers": [serialize_provider(req, p) for p in providers]}
    modified = newest(p.timestamps.last_modified for p in providers)
    return json_response(req, body, last_modified=modified)


@json_answer
def get_resource_provider(req: ApiRequest) -> Response:
    req.authorize(SHOW)
    provider = req.store.get_provider(req.param("uuid"))
    return json_response(
        req, serialize_provider(req, provider),
        last_modified=provider.timestamps.last_modified,
    )


def _normalized_uuid(text: str | None) -> str:
    # A uuid sent without dashes is stored (and answered) with them.
    return str(uuidlib.UUID(text)) if text else str(uuidlib.uuid4())


@json_body
def create_resource_provider(req: ApiRequest) -> Response:
    req.authorize(CREATE)
    data = req.json(schema.POST_PROVIDER_V1_14 if req.wants("1.14") else schema.POST_PROVIDER)
    name = data["name"]
    provider_uuid = _normalized_uuid(data.get("uuid"))
    failure = (
        f'Unable to create resource provider "{name}", {provider_uuid}: '
        "Object action create failed because: "
    )
    try:
        provider = req.store.create_provider(provider_uuid, name, data.get("parent_provider_uuid"))
    except domain.InvalidParent as exc:
        raise ApiError(400, failure + str(exc)) from None
    except domain.ResourceProviderNotFound:
        # The port's other way of saying the parent does not exist.
        raise ApiError(400, failure + "parent provider UUID does not exist.") from None
    location = provider_url(req, provider.uuid)
    if not req.wants("1.20"):
        return empty_response(req, 201, location=location)
    return json_response(
        req, serialize_provider(req, provider),
        location=location, last_modified=provider.timestamps.last_modified,
    )


@json_body
def update_resource_provider(req: ApiRequest) -> Response:
    req.authorize(UPDATE)
    provider_uuid = req.param("uuid")
    current = req.store.get_provider(provider_uuid)
    data = req.json(schema.PUT_PROVIDER_V1_14 if req.wants("1.14") else schema.PUT_PROVIDER)
    parent_uuid = data.get("parent_provider_uuid", current.parent_provider_uuid)
    failure = f"Unable to save resource provider {provider_uuid}: Object action "
    try:
        provider = req.store.update_provider(
            provider_uuid, data["name"], parent_uuid, allow_reparent=req.wants("1.37")
        )
    except domain.ResourceProviderNotFound as exc:
        if exc.uuid != parent_uuid:
            raise
        raise ApiError(
            400, failure + "create failed because: parent provider UUID does not exist."
        ) from None
    except domain.InvalidParent as exc:
        raise ApiError(400, failure + f"update failed because: {exc}") from None
    return json_response(
        req, serialize_provider(req, provider),
        last_modified=provider.timestamps.last_modified,
    )


def delete_resource_provider(req: ApiRequest) -> Response:
    req.authorize(DELETE)
    provider_uuid = req.param("uuid")
    try:
        req.store.delete_provider(provider_uuid)
    except domain.ResourceProviderNotFound:
        raise ApiError(
            404, f"No resource provider with uuid {provider_uuid} found for delete"
        ) from None
    except domain.ProviderInUse as exc:
        raise from_domain(
            exc, f"Unable to delete resource provider {provider_uuid}: {exc}"
        ) from None
    except domain.CannotDeleteParent as exc:
        raise from_domain(
            exc,
            f"Unable to delete parent resource provider {provider_uuid}: "
            "It has child resource providers.",
        ) from None
    return empty_response(req)
