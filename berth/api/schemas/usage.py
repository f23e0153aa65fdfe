"""Schemas of GET /usages query strings."""

from __future__ import annotations

import copy

from berth.api.schemas.common import CONSUMER_TYPE_GET_PATTERN, NON_EMPTY_ID

USAGES_QUERY = {
    "type": "object",
    "properties": {
        "project_id": copy.deepcopy(NON_EMPTY_ID),
        "user_id": copy.deepcopy(NON_EMPTY_ID),
    },
    "required": ["project_id"],
    "additionalProperties": False,
}

# 1.38: filter by consumer type ("all" and "unknown" included).
USAGES_QUERY_V1_38 = copy.deepcopy(USAGES_QUERY)
USAGES_QUERY_V1_38["properties"]["consumer_type"] = {
    "type": "string",
    "pattern": CONSUMER_TYPE_GET_PATTERN,
    "minLength": 1,
    "maxLength": 255,
}
