"""Schemas of trait bodies, trait names and GET /traits."""

from __future__ import annotations

import copy

from berth.api.schemas.common import CUSTOM_TRAIT_PATTERN

TRAIT_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
CUSTOM_TRAIT_NAME = {**TRAIT_NAME, "pattern": CUSTOM_TRAIT_PATTERN}

PUT_PROVIDER_TRAITS = {
    "type": "object",
    "properties": {
        "traits": {"type": "array", "items": copy.deepcopy(TRAIT_NAME)},
        "resource_provider_generation": {"type": "integer"},
    },
    "required": ["traits", "resource_provider_generation"],
    "additionalProperties": False,
}

LIST_QUERY = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "associated": {"type": "string"},
    },
    "additionalProperties": False,
}
