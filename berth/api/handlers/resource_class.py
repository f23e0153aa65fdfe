"""/resource_classes[/{name}] (1.2; PUT becomes create-or-verify at 1.7)."""

from __future__ import annotations

from starlette.responses import Response

from berth.api.dispatch import json_answer, json_body
from berth.api.errors import ApiError
from berth.api.microversion import versioned
from berth.api.request import ApiRequest
from berth.api.responses import empty_response, json_response, newest
from berth.api.schemas import resource_class as schema
from berth.api.schemas.validation import first_error
from berth.placement import errors as domain
from berth.placement.model import ResourceClass

LIST = "placement:resource_classes:list"
CREATE = "placement:resource_classes:create"
SHOW = "placement:resource_classes:show"
UPDATE = "placement:resource_classes:update"
DELETE = "placement:resource_classes:delete"


def class_url(req: ApiRequest, name: str) -> str:
    return req.url(f"/resource_classes/{name}")


def serialize_class(req: ApiRequest, resource_class: ResourceClass) -> dict:
    return {
        "name": resource_class.name,
        "links": [{"rel": "self", "href": class_url(req, resource_class.name)}],
    }


@versioned("1.2")
@json_answer
def list_resource_classes(req: ApiRequest) -> Response:
    req.authorize(LIST)
    classes = req.store.list_resource_classes()
    body = {"resource_classes": [serialize_class(req, rc) for rc in classes]}
    modified = newest(rc.timestamps.last_modified for rc in classes)
    return json_response(req, body, last_modified=modified)


@versioned("1.2")
@json_answer
def get_resource_class(req: ApiRequest) -> Response:
    req.authorize(SHOW)
    resource_class = req.store.get_resource_class(req.param("name"))
    return json_response(
        req, serialize_class(req, resource_class),
        last_modified=resource_class.timestamps.last_modified,
    )


@versioned("1.2")
@json_body
def create_resource_class(req: ApiRequest) -> Response:
    req.authorize(CREATE)
    name = req.json(schema.POST_RESOURCE_CLASS)["name"]
    try:
        req.store.create_resource_class(name)
    except domain.ResourceClassExists:
        raise ApiError(409, f"Conflicting resource class already exists: {name}") from None
    return empty_response(req, 201, location=class_url(req, name))


@versioned("1.2", "1.6")
@json_body
def rename_resource_class(req: ApiRequest) -> Response:
    req.authorize(UPDATE)
    name = req.param("name")
    new_name = req.json(schema.PUT_RESOURCE_CLASS)["name"]
    req.store.get_resource_class(name)
    try:
        renamed = req.store.rename_resource_class(name, new_name)
    except domain.ResourceClassExists:
        raise ApiError(409, f"Resource class already exists: {new_name}") from None
    except domain.CannotChangeStandard:
        raise ApiError(400, f"Cannot update standard resource class {name}") from None
    # Placement sends no caching headers here, even at 1.15 and 1.16.
    return json_response(req, serialize_class(req, renamed))


@versioned("1.7")
def ensure_resource_class(req: ApiRequest) -> Response:
    """Create the class unless it exists: 201 created, 204 already there."""
    req.authorize(UPDATE)
    name = req.param("name")
    # The name in the path is held to the body schema of earlier versions.
    error = first_error({"name": name}, schema.PUT_RESOURCE_CLASS)
    if error is not None:
        raise ApiError(400, f"JSON does not validate: {error}")
    status = 204
    try:
        req.store.get_resource_class(name)
    except domain.ResourceClassNotFound:
        try:
            req.store.create_resource_class(name)
            status = 201
        except domain.ResourceClassExists:
            pass  # created meanwhile by someone else: it exists
    return empty_response(req, status, location=class_url(req, name))


@versioned("1.2")
def delete_resource_class(req: ApiRequest) -> Response:
    req.authorize(DELETE)
    name = req.param("name")
    req.store.get_resource_class(name)
    try:
        req.store.delete_resource_class(name)
    except (domain.CannotChangeStandard, domain.ResourceClassInUse) as exc:
        status = 400 if isinstance(exc, domain.CannotChangeStandard) else 409
        raise ApiError(status, f"Error in delete resource class: {exc}") from None
    return empty_response(req)
