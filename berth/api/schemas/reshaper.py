"""Schemas of POST /reshaper bodies (1.30, 1.34, 1.38)."""

from __future__ import annotations

import copy

from berth.api.schemas import allocation, inventory
from berth.api.schemas.common import UUID_PATTERN


def _allocations(post_schema: dict) -> dict:
    # A reshape may move inventory that nothing consumes: allow no consumers.
    allocations = copy.deepcopy(post_schema)
    allocations["minProperties"] = 0
    return allocations


POST_RESHAPER = {
    "type": "object",
    "properties": {
        "inventories": {
            "type": "object",
            "patternProperties": {UUID_PATTERN: copy.deepcopy(inventory.PUT_INVENTORIES)},
            # Reshaping nothing is not a reshape.
            "minProperties": 1,
            "additionalProperties": False,
        },
        "allocations": _allocations(allocation.POST_ALLOCATIONS_V1_28),
    },
    "required": ["inventories", "allocations"],
    "additionalProperties": False,
}

POST_RESHAPER_V1_34 = copy.deepcopy(POST_RESHAPER)
POST_RESHAPER_V1_34["properties"]["allocations"] = _allocations(
    allocation.POST_ALLOCATIONS_V1_34
)

POST_RESHAPER_V1_38 = copy.deepcopy(POST_RESHAPER_V1_34)
POST_RESHAPER_V1_38["properties"]["allocations"] = _allocations(
    allocation.POST_ALLOCATIONS_V1_38
)
