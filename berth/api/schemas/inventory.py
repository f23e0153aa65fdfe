"""Schemas of inventory bodies."""

from __future__ import annotations

import copy

from berth.api.schemas.common import MAX_INT, RC_PATTERN, SQL_SP_FLOAT_MAX


def _count(minimum: int) -> dict:
    return {"type": "integer", "maximum": MAX_INT, "minimum": minimum}


# PUT /resource_providers/{uuid}/inventories/{resource_class}
PUT_ONE_INVENTORY = {
    "type": "object",
    "properties": {
        "resource_provider_generation": {"type": "integer"},
        "total": _count(1),
        "reserved": _count(0),
        "min_unit": _count(1),
        "max_unit": _count(1),
        "step_size": _count(1),
        "allocation_ratio": {"type": "number", "maximum": SQL_SP_FLOAT_MAX},
    },
    "required": ["total", "resource_provider_generation"],
    "additionalProperties": False,
}

# POST /resource_providers/{uuid}/inventories: the class is in the body and
# the generation is not checked.
POST_INVENTORY = copy.deepcopy(PUT_ONE_INVENTORY)
POST_INVENTORY["properties"]["resource_class"] = {
    "type": "string",
    "pattern": RC_PATTERN,
}
POST_INVENTORY["required"] = ["total", "resource_class"]

# One record of PUT /resource_providers/{uuid}/inventories.
INVENTORY_RECORD = copy.deepcopy(PUT_ONE_INVENTORY)
INVENTORY_RECORD["required"] = ["total"]

PUT_INVENTORIES = {
    "type": "object",
    "properties": {
        "resource_provider_generation": {"type": "integer"},
        "inventories": {
            "type": "object",
            "patternProperties": {RC_PATTERN: INVENTORY_RECORD},
        },
    },
    "required": ["resource_provider_generation", "inventories"],
    "additionalProperties": False,
}
