"""/resource_providers/{uuid}/usages and /usages (1.9; by consumer type
from 1.38)."""

from __future__ import annotations

from collections import Counter

from starlette.responses import Response

from berth.api import query
from berth.api.dispatch import json_answer
from berth.api.errors import ApiError
from berth.api.microversion import versioned
from berth.api.request import ApiRequest
from berth.api.responses import json_response, utcnow
from berth.placement import errors as domain
from berth.placement.model import UsageByConsumerType

PROVIDER_USAGES = "placement:resource_providers:usages"
TOTAL_USAGES = "placement:usages"
# The pseudo consumer type of GET /usages?consumer_type=all (1.38).
ALL_CONSUMER_TYPES = "all"


@json_answer
def list_provider_usages(req: ApiRequest) -> Response:
    req.authorize(PROVIDER_USAGES)
    provider_uuid = req.param("uuid")
    try:
        provider = req.store.get_provider(provider_uuid)
    except domain.ResourceProviderNotFound as exc:
        raise ApiError(404, f"No resource provider with uuid {provider_uuid} found: {exc}") from None
    report = req.store.get_provider_usages(provider_uuid)
    body = {"resource_provider_generation": provider.generation, "usages": dict(report.usages)}
    # Usage is a question about now: Placement answers with the current time.
    return json_response(req, body, last_modified=utcnow())


def _by_consumer_type(groups: list[UsageByConsumerType]) -> dict:
    return {
        group.consumer_type: {**group.usages, "consumer_count": group.consumer_count}
        for group in groups
    }


def _merged(groups: list[UsageByConsumerType]) -> UsageByConsumerType:
    """One group, "all", for every consumer type (a consumer has one type,
    so the counts add up)."""
    return UsageByConsumerType(
        consumer_type=ALL_CONSUMER_TYPES,
        consumer_count=sum(group.consumer_count for group in groups),
        usages=_summed(groups),
    )


def _summed(groups: list[UsageByConsumerType]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for group in groups:
        total.update(group.usages)
    return dict(total)


@versioned("1.9")
@json_answer
def get_total_usages(req: ApiRequest) -> Response:
    # Policy first: the target is the project asked about (readers may see
    # their own project's usages).
    req.authorize(TOTAL_USAGES, {"project_id": req.query.get("project_id")})
    wanted = query.usage_filter(req)
    every_type = wanted.consumer_type == ALL_CONSUMER_TYPES
    groups = req.store.get_project_usages(
        wanted.project_id,
        user_id=wanted.user_id,
        consumer_type=None if every_type else wanted.consumer_type,
    )
    if every_type and groups:
        groups = [_merged(groups)]
    usages = _by_consumer_type(groups) if req.wants("1.38") else _summed(groups)
    return json_response(req, {"usages": usages}, last_modified=utcnow())
