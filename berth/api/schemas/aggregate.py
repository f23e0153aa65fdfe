"""Schemas of provider aggregate bodies."""

from __future__ import annotations

import copy

from berth.api.schemas.common import UUID

_AGGREGATE_LIST = {"type": "array", "items": UUID, "uniqueItems": True}

# 1.1-1.18: a bare list.
PUT_AGGREGATES = copy.deepcopy(_AGGREGATE_LIST)

# 1.19: the list and the provider generation.
PUT_AGGREGATES_V1_19 = {
    "type": "object",
    "properties": {
        "aggregates": copy.deepcopy(_AGGREGATE_LIST),
        "resource_provider_generation": {"type": "integer"},
    },
    "required": ["aggregates", "resource_provider_generation"],
    "additionalProperties": False,
}
