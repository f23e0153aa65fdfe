"""/resource_providers/{uuid}/inventories[/{resource_class}].

The store replaces a provider's whole inventory under its generation; the
single-class routes read the inventory, change one class and write it all
back with the generation they read (or the one the client named).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from berth.api.dispatch import json_answer, json_body
from berth.api.errors import CONCURRENT_UPDATE, ApiError, conflict, from_domain
from berth.api.microversion import versioned
from berth.api.request import ApiRequest
from berth.api.responses import empty_response, json_response, utcnow
from berth.api.schemas import inventory as schema
from berth.placement import errors as domain
from berth.placement.model import Inventory, ProviderInventories

LIST = "placement:resource_providers:inventories:list"
CREATE = "placement:resource_providers:inventories:create"
SHOW = "placement:resource_providers:inventories:show"
UPDATE = "placement:resource_providers:inventories:update"
DELETE = "placement:resource_providers:inventories:delete"

FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")


def inventory_from_body(resource_class: str, fields: Mapping[str, object]) -> Inventory:
    """An Inventory from validated body fields (absent ones get defaults)."""
    values = {name: fields[name] for name in FIELDS if name in fields}
    if "allocation_ratio" in values:
        values["allocation_ratio"] = float(values["allocation_ratio"])  # type: ignore[arg-type]
    return Inventory(resource_class=resource_class, **values)  # type: ignore[arg-type]


def check_capacity(req: ApiRequest, provider_uuid: str, inventory: Inventory) -> str | None:
    """Placement's reserved-versus-total rule, or None when it holds. From
    1.26 reserved may equal total (capacity 0)."""
    capacity = int((inventory.total - inventory.reserved) * inventory.allocation_ratio)
    prefix = (
        f"Invalid inventory for '{inventory.resource_class}' on resource "
        f"provider '{provider_uuid}'. The reserved value is greater than"
    )
    if req.wants("1.26"):
        return f"{prefix} total." if capacity < 0 else None
    return f"{prefix} or equal to total." if capacity <= 0 else None


def serialize_inventory(inventory: Inventory, generation: int | None = None) -> dict:
    data: dict[str, object] = {name: getattr(inventory, name) for name in FIELDS}
    # Placement leaves out a generation of 0 (it tests truthiness).
    if generation:
        data["resource_provider_generation"] = generation
    return data


def inventories_document(found: ProviderInventories) -> dict:
    return {
        "resource_provider_generation": found.provider.generation,
        "inventories": {
            name: serialize_inventory(inventory)
            for name, inventory in found.inventories.items()
        },
    }


def inventory_url(req: ApiRequest, provider_uuid: str, resource_class: str) -> str:
    return req.url(f"/resource_providers/{provider_uuid}/inventories/{resource_class}")


def _read(req: ApiRequest, provider_uuid: str) -> ProviderInventories:
    """The inventories, with GET's message when the provider is unknown."""
    try:
        return req.store.get_inventories(provider_uuid)
    except domain.ResourceProviderNotFound as exc:
        raise ApiError(
            404, f"No resource provider with uuid {provider_uuid} found : {exc}"
        ) from None


@json_answer
def get_inventories(req: ApiRequest) -> Response:
    req.authorize(LIST)
    found = _read(req, req.param("uuid"))
    return json_response(
        req, inventories_document(found),
        last_modified=found.provider.timestamps.last_modified,
    )


@json_answer
def get_inventory(req: ApiRequest) -> Response:
    req.authorize(SHOW)
    provider_uuid, resource_class = req.param("uuid"), req.param("resource_class")
    found = _read(req, provider_uuid)
    inventory = found.inventories.get(resource_class)
    if inventory is None:
        raise ApiError(404, f"No inventory of class {resource_class} for {provider_uuid}")
    return json_response(
        req, serialize_inventory(inventory, found.provider.generation),
        last_modified=found.provider.timestamps.last_modified,
    )


@json_body
def create_inventory(req: ApiRequest) -> Response:
    req.authorize(CREATE)
    provider_uuid = req.param("uuid")
    found = req.store.get_inventories(provider_uuid)
    data = req.json(schema.POST_INVENTORY)
    resource_class = data["resource_class"]
    inventory = inventory_from_body(resource_class, data)
    failure = f"Unable to create inventory for resource provider {provider_uuid}: "
    problem = check_capacity(req, provider_uuid, inventory)
    if problem:
        raise ApiError(400, failure + problem)
    if resource_class in found.inventories:
        raise conflict(
            f"Update conflict: Inventory of class {resource_class} already "
            f"exists on resource provider {provider_uuid}.",
            code=CONCURRENT_UPDATE,
        )
    wanted = {**found.inventories, resource_class: inventory}
    try:
        written = req.store.replace_inventories(provider_uuid, found.provider.generation, wanted)
    except domain.ConcurrentUpdate as exc:
        raise from_domain(exc, f"Update conflict: {exc}") from None
    except domain.NotFound as exc:
        raise ApiError(400, failure + str(exc)) from None
    return json_response(
        req, serialize_inventory(inventory, written.provider.generation),
        status=201,
        location=inventory_url(req, provider_uuid, resource_class),
        last_modified=utcnow(),
    )


@json_body
def set_inventories(req: ApiRequest) -> Response:
    req.authorize(UPDATE)
    provider_uuid = req.param("uuid")
    provider = req.store.get_provider(provider_uuid)
    data = req.json(schema.PUT_INVENTORIES)
    if data["resource_provider_generation"] != provider.generation:
        raise conflict("resource provider generation conflict", code=CONCURRENT_UPDATE)
    wanted = {
        name: inventory_from_body(name, fields)
        for name, fields in data["inventories"].items()
    }
    for inventory in wanted.values():
        problem = check_capacity(req, provider_uuid, inventory)
        if problem:
            raise ApiError(
                400, f"Unable to update inventory for resource provider {provider_uuid}: {problem}"
            )
    try:
        written = req.store.replace_inventories(provider_uuid, provider.generation, wanted)
    except domain.ResourceClassNotFound as exc:
        raise ApiError(
            400,
            f"Unknown resource class in inventory for resource provider {provider_uuid}: {exc}",
        ) from None
    except (domain.ConcurrentUpdate, domain.InventoryInUse) as exc:
        raise from_domain(exc, f"update conflict: {exc}") from None
    return json_response(req, inventories_document(written), last_modified=utcnow())


@json_body
def update_inventory(req: ApiRequest) -> Response:
    req.authorize(UPDATE)
    provider_uuid, resource_class = req.param("uuid"), req.param("resource_class")
    found = req.store.get_inventories(provider_uuid)
    data = req.json(schema.PUT_ONE_INVENTORY)
    if data["resource_provider_generation"] != found.provider.generation:
        raise conflict("resource provider generation conflict", code=CONCURRENT_UPDATE)
    inventory = inventory_from_body(resource_class, data)
    problem = check_capacity(req, provider_uuid, inventory)
    if problem:
        raise ApiError(
            400, f"Unable to update inventory for resource provider {provider_uuid}: {problem}"
        )
    if resource_class not in found.inventories:
        # An unknown class is a plain 404; a known one without inventory a 400.
        req.store.get_resource_class(resource_class)
        raise ApiError(
            400,
            "No inventory record with resource class for resource provider "
            f"{provider_uuid}: No inventory of class {resource_class} found.",
        )
    wanted = {**found.inventories, resource_class: inventory}
    try:
        written = req.store.replace_inventories(provider_uuid, found.provider.generation, wanted)
    except (domain.ConcurrentUpdate, domain.InventoryInUse) as exc:
        # InventoryInUse: capacity below usage, which berth refuses on
        # purpose (docs/compatibility.md); answered as PUT of all inventories.
        raise from_domain(exc, f"update conflict: {exc}") from None
    return json_response(
        req, serialize_inventory(inventory, written.provider.generation),
        last_modified=utcnow(),
    )


def delete_inventory(req: ApiRequest) -> Response:
    req.authorize(DELETE)
    provider_uuid, resource_class = req.param("uuid"), req.param("resource_class")
    found = req.store.get_inventories(provider_uuid)
    not_found = f"No inventory of class {resource_class} found for delete"
    if resource_class not in found.inventories:
        try:
            req.store.get_resource_class(resource_class)
        except domain.ResourceClassNotFound as exc:
            raise ApiError(404, f"{not_found}: {exc}") from None
        raise ApiError(404, f"{not_found}: {not_found}")
    wanted = {k: v for k, v in found.inventories.items() if k != resource_class}
    try:
        req.store.replace_inventories(provider_uuid, found.provider.generation, wanted)
    except (domain.ConcurrentUpdate, domain.InventoryInUse) as exc:
        # Placement answers an in-use class here with the concurrent-update
        # code (unlike PUT and DELETE of all inventories).
        raise conflict(
            f"Unable to delete inventory of class {resource_class}: {exc}",
            code=CONCURRENT_UPDATE,
        ) from None
    return empty_response(req)


@versioned("1.5", status_below=405)
def delete_inventories(req: ApiRequest) -> Response:
    req.authorize(DELETE)
    provider_uuid = req.param("uuid")
    provider = req.store.get_provider(provider_uuid)
    try:
        req.store.replace_inventories(provider_uuid, provider.generation, {})
    except domain.ConcurrentUpdate:
        raise conflict(
            f"Unable to delete inventory for resource provider {provider_uuid} "
            "because the inventory was updated by another process. Please "
            "retry your request.",
            code=CONCURRENT_UPDATE,
        ) from None
    except domain.InventoryInUse as exc:
        raise from_domain(exc) from None
    return empty_response(req)
