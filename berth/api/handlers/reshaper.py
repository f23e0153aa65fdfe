"""POST /reshaper (1.30): move inventory and allocations in one transaction."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from berth.api.dispatch import json_body
from berth.api.errors import (
    CONCURRENT_UPDATE,
    RESOURCE_PROVIDER_NOT_FOUND,
    ApiError,
    conflict,
    from_domain,
)
from berth.api.handlers.allocation import claims_for_consumers
from berth.api.handlers.inventory import inventory_from_body
from berth.api.microversion import versioned
from berth.api.request import ApiRequest
from berth.api.responses import empty_response
from berth.api.schemas import reshaper as schema
from berth.placement import errors as domain
from berth.placement.model import InventoryChange

RESHAPE = "placement:reshaper:reshape"


def _schema(req: ApiRequest) -> dict:
    if req.wants("1.38"):
        return schema.POST_RESHAPER_V1_38
    if req.wants("1.34"):
        return schema.POST_RESHAPER_V1_34
    return schema.POST_RESHAPER


def _inventory_change(req: ApiRequest, provider_uuid: str, wanted: dict[str, Any]) -> InventoryChange:
    try:
        provider = req.store.get_provider(provider_uuid)
    except domain.ResourceProviderNotFound as exc:
        raise ApiError(
            400, f"Resource provider {provider_uuid} in inventories not found: {exc}",
            code=RESOURCE_PROVIDER_NOT_FOUND,
        ) from None
    given = wanted["resource_provider_generation"]
    # An early check, for Placement's message; the store checks atomically.
    if given != provider.generation:
        raise conflict(
            f"resource provider generation conflict for provider {provider_uuid}: "
            f"actual: {provider.generation}, given: {given}",
            code=CONCURRENT_UPDATE,
        )
    return InventoryChange(
        provider_uuid=provider_uuid,
        expected_generation=given,
        inventories={
            name: inventory_from_body(name, fields)
            for name, fields in wanted["inventories"].items()
        },
    )


@versioned("1.30")
@json_body
def reshape(req: ApiRequest) -> Response:
    req.authorize(RESHAPE)
    data = req.json(_schema(req))
    changes = [
        _inventory_change(req, provider_uuid, wanted)
        for provider_uuid, wanted in data["inventories"].items()
    ]
    claims = claims_for_consumers(req, data["allocations"])
    try:
        req.store.reshape(changes, claims)
    except (domain.ConcurrentUpdate, domain.InventoryInUse) as exc:
        raise from_domain(exc, f"update conflict: {exc}") from None
    except domain.ResourceProviderNotFound as exc:
        raise ApiError(
            400, f"Allocation for resource provider '{exc.uuid}' that does not exist."
        ) from None
    except domain.NotFound as exc:
        raise ApiError(400, f"malformed reshaper data: {exc}") from None
    except domain.InvalidAllocation as exc:
        raise from_domain(exc, f"Unable to allocate inventory: {exc}") from None
    return empty_response(req)
