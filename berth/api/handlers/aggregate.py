"""/resource_providers/{uuid}/aggregates (1.1; generation from 1.19)."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.responses import Response

from berth.api.dispatch import json_answer, json_body
from berth.api.errors import CONCURRENT_UPDATE, conflict, from_domain
from berth.api.microversion import versioned
from berth.api.request import ApiRequest
from berth.api.responses import json_response, utcnow
from berth.api.schemas import aggregate as schema
from berth.placement import errors as domain

LIST = "placement:resource_providers:aggregates:list"
UPDATE = "placement:resource_providers:aggregates:update"

WITH_GENERATION = "1.19"


def _answer(req: ApiRequest, aggregates: Iterable[str], generation: int) -> Response:
    body: dict[str, object] = {"aggregates": list(aggregates)}
    if req.wants(WITH_GENERATION):
        body["resource_provider_generation"] = generation
    # Placement keeps no time for aggregate membership: it says "now".
    return json_response(req, body, last_modified=utcnow())


@versioned("1.1")
@json_answer
def get_aggregates(req: ApiRequest) -> Response:
    req.authorize(LIST)
    found = req.store.get_provider_aggregates(req.param("uuid"))
    return _answer(req, sorted(found.aggregates), found.provider.generation)


@versioned("1.1")
@json_body
def set_aggregates(req: ApiRequest) -> Response:
    req.authorize(UPDATE)
    checked = req.wants(WITH_GENERATION)
    provider_uuid = req.param("uuid")
    provider = req.store.get_provider(provider_uuid)
    data = req.json(schema.PUT_AGGREGATES_V1_19 if checked else schema.PUT_AGGREGATES)
    if checked:
        if data["resource_provider_generation"] != provider.generation:
            raise conflict(
                "Resource provider's generation already changed. Please update "
                "the generation and try again.",
                code=CONCURRENT_UPDATE,
            )
        aggregates = data["aggregates"]
    else:
        aggregates = data
    try:
        written = req.store.set_provider_aggregates(
            provider_uuid, provider.generation if checked else None, aggregates
        )
    except domain.ConcurrentUpdate as exc:
        raise from_domain(exc, f"Update conflict: {exc}") from None
    return _answer(req, aggregates, written.provider.generation)
