"""/traits[/{name}] and /resource_providers/{uuid}/traits (1.6)."""

from __future__ import annotations

from starlette.responses import Response

from berth.api import query
from berth.api.dispatch import json_answer, json_body
from berth.api.errors import CONCURRENT_UPDATE, ApiError, conflict, from_domain
from berth.api.microversion import versioned
from berth.api.request import ApiRequest
from berth.api.responses import empty_response, json_response, newest, utcnow
from berth.api.schemas import trait as schema
from berth.api.schemas.validation import first_error
from berth.placement import errors as domain

LIST = "placement:traits:list"
SHOW = "placement:traits:show"
UPDATE = "placement:traits:update"
DELETE = "placement:traits:delete"
PROVIDER_LIST = "placement:resource_providers:traits:list"
PROVIDER_UPDATE = "placement:resource_providers:traits:update"
PROVIDER_DELETE = "placement:resource_providers:traits:delete"

GENERATION_MOVED = (
    "Resource provider's generation already changed. Please update the "
    "generation and try again."
)


def trait_url(req: ApiRequest, name: str) -> str:
    return req.url(f"/traits/{name}")


@versioned("1.6")
@json_answer
def list_traits(req: ApiRequest) -> Response:
    req.authorize(LIST)
    wanted = query.trait_filter(req.query)
    traits = req.store.list_traits(
        names=wanted.names, prefix=wanted.prefix, associated=wanted.associated
    )
    body = {"traits": [trait.name for trait in traits]}
    modified = newest(trait.timestamps.last_modified for trait in traits)
    return json_response(req, body, last_modified=modified)


@versioned("1.6")
def get_trait(req: ApiRequest) -> Response:
    req.authorize(SHOW)
    try:
        trait = req.store.get_trait(req.param("name"))
    except domain.TraitNotFound as exc:
        raise ApiError(404, str(exc)) from None
    return empty_response(req, last_modified=trait.timestamps.created_at)


@versioned("1.6")
def put_trait(req: ApiRequest) -> Response:
    req.authorize(UPDATE)
    name = req.param("name")
    if first_error(name, schema.CUSTOM_TRAIT_NAME) is not None:
        raise ApiError(
            400,
            "The trait is invalid. A valid trait must be no longer than 255 "
            'characters, start with the prefix "CUSTOM_" and use following '
            'characters: "A"-"Z", "0"-"9" and "_"',
        )
    trait, created = req.store.ensure_trait(name)
    return empty_response(
        req, 201 if created else 204,
        location=trait_url(req, name),
        last_modified=trait.timestamps.created_at,
    )


@versioned("1.6")
def delete_trait(req: ApiRequest) -> Response:
    req.authorize(DELETE)
    try:
        req.store.delete_trait(req.param("name"))
    except (domain.TraitNotFound, domain.CannotChangeStandard, domain.TraitInUse) as exc:
        # Placement's handler catches these itself (so they keep vary).
        raise from_domain(exc, str(exc)) from None
    return empty_response(req)


def _provider_traits_body(names: object, generation: int) -> dict:
    return {"traits": sorted(names), "resource_provider_generation": generation}  # type: ignore[call-overload]


@versioned("1.6")
@json_answer
def list_provider_traits(req: ApiRequest) -> Response:
    req.authorize(PROVIDER_LIST)
    provider_uuid = req.param("uuid")
    try:
        found = req.store.get_provider_traits(provider_uuid)
    except domain.ResourceProviderNotFound as exc:
        raise ApiError(404, f"No resource provider with uuid {provider_uuid} found: {exc}") from None
    body = _provider_traits_body(found.traits, found.provider.generation)
    return json_response(req, body, last_modified=found.provider.timestamps.last_modified)


@versioned("1.6")
@json_body
def set_provider_traits(req: ApiRequest) -> Response:
    req.authorize(PROVIDER_UPDATE)
    data = req.json(schema.PUT_PROVIDER_TRAITS)
    provider_uuid = req.param("uuid")
    provider = req.store.get_provider(provider_uuid)
    if data["resource_provider_generation"] != provider.generation:
        raise conflict(GENERATION_MOVED, code=CONCURRENT_UPDATE)
    try:
        written = req.store.set_provider_traits(provider_uuid, provider.generation, data["traits"])
    except domain.TraitNotFound as exc:
        raise ApiError(400, f"No such trait {', '.join(exc.names)}") from None
    except domain.ConcurrentUpdate as exc:
        raise from_domain(exc, GENERATION_MOVED) from None
    body = _provider_traits_body(written.traits, written.provider.generation)
    return json_response(req, body, last_modified=utcnow())


@versioned("1.6")
def delete_provider_traits(req: ApiRequest) -> Response:
    req.authorize(PROVIDER_DELETE)
    provider_uuid = req.param("uuid")
    provider = req.store.get_provider(provider_uuid)
    try:
        req.store.set_provider_traits(provider_uuid, provider.generation, [])
    except domain.ConcurrentUpdate as exc:
        raise from_domain(exc, str(exc)) from None
    return empty_response(req)
