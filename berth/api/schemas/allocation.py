"""Schemas of allocation bodies: PUT /allocations/{consumer} per version and
POST /allocations.

    1.0-1.7    a list of {resource_provider: {uuid}, resources}
    1.8-1.11   the list, plus required project_id and user_id
    1.12-1.27  a dict keyed by provider uuid, like GET's answer
    1.28-1.33  plus a required consumer_generation; empty allocations clear
    1.34-1.37  plus optional mappings (accepted, not stored)
    1.38-      plus a required consumer_type
"""

from __future__ import annotations

import copy

from berth.api.schemas.common import (
    CONSUMER_TYPE_PATTERN,
    GROUP_PATTERN_1_33,
    NON_EMPTY_ID,
    RC_PATTERN,
    UUID,
    UUID_PATTERN,
)

_RESOURCES = {
    "type": "object",
    "minProperties": 1,
    "patternProperties": {RC_PATTERN: {"type": "integer", "minimum": 1}},
    "additionalProperties": False,
}

PUT_ALLOCATIONS = {
    "type": "object",
    "properties": {
        "allocations": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "resource_provider": {
                        "type": "object",
                        "properties": {"uuid": UUID},
                        "additionalProperties": False,
                        "required": ["uuid"],
                    },
                    "resources": copy.deepcopy(_RESOURCES),
                },
                "required": ["resource_provider", "resources"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["allocations"],
    "additionalProperties": False,
}

PUT_ALLOCATIONS_V1_8 = copy.deepcopy(PUT_ALLOCATIONS)
PUT_ALLOCATIONS_V1_8["properties"]["project_id"] = copy.deepcopy(NON_EMPTY_ID)
PUT_ALLOCATIONS_V1_8["properties"]["user_id"] = copy.deepcopy(NON_EMPTY_ID)
PUT_ALLOCATIONS_V1_8["required"] += ["project_id", "user_id"]

# 1.12: the same shape as GET /allocations/{consumer}.
PUT_ALLOCATIONS_V1_12 = {
    "type": "object",
    "properties": {
        "allocations": {
            "type": "object",
            "minProperties": 1,
            "patternProperties": {
                UUID_PATTERN: {
                    "type": "object",
                    "properties": {
                        # Accepted for symmetry with GET, never checked.
                        "generation": {"type": "integer"},
                        "resources": copy.deepcopy(_RESOURCES),
                    },
                    "required": ["resources"],
                    "additionalProperties": False,
                }
            },
            "additionalProperties": False,
        },
        "project_id": copy.deepcopy(NON_EMPTY_ID),
        "user_id": copy.deepcopy(NON_EMPTY_ID),
    },
    # Key order matters only to error messages, which print the schema.
    "additionalProperties": False,
    "required": ["allocations", "project_id", "user_id"],
}

# POST /allocations (1.13) lets a consumer's allocations be empty (cleared).
DELETABLE_ALLOCATIONS = copy.deepcopy(PUT_ALLOCATIONS_V1_12)
DELETABLE_ALLOCATIONS["properties"]["allocations"]["minProperties"] = 0
POST_ALLOCATIONS_V1_13 = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "patternProperties": {UUID_PATTERN: DELETABLE_ALLOCATIONS},
}

_CONSUMER_GENERATION = {"type": ["integer", "null"], "additionalProperties": False}

# 1.28: consumer generations; PUT may clear with empty allocations.
PUT_ALLOCATIONS_V1_28 = copy.deepcopy(DELETABLE_ALLOCATIONS)
PUT_ALLOCATIONS_V1_28["properties"]["consumer_generation"] = _CONSUMER_GENERATION
PUT_ALLOCATIONS_V1_28["required"].append("consumer_generation")
POST_ALLOCATIONS_V1_28 = copy.deepcopy(POST_ALLOCATIONS_V1_13)
POST_ALLOCATIONS_V1_28["patternProperties"] = {
    UUID_PATTERN: copy.deepcopy(PUT_ALLOCATIONS_V1_28)
}

# 1.34: optional mappings of request group suffix to provider uuids.
MAPPINGS = {
    "type": "object",
    "minProperties": 1,
    "patternProperties": {
        GROUP_PATTERN_1_33: {"type": "array", "minItems": 1, "items": UUID}
    },
}
PUT_ALLOCATIONS_V1_34 = copy.deepcopy(PUT_ALLOCATIONS_V1_28)
PUT_ALLOCATIONS_V1_34["properties"]["mappings"] = MAPPINGS
POST_ALLOCATIONS_V1_34 = copy.deepcopy(POST_ALLOCATIONS_V1_28)
POST_ALLOCATIONS_V1_34["patternProperties"] = {
    UUID_PATTERN: copy.deepcopy(PUT_ALLOCATIONS_V1_34)
}

# 1.38: a required consumer type.
PUT_ALLOCATIONS_V1_38 = copy.deepcopy(PUT_ALLOCATIONS_V1_34)
PUT_ALLOCATIONS_V1_38["properties"]["consumer_type"] = {
    "type": "string",
    "pattern": CONSUMER_TYPE_PATTERN,
    "minLength": 1,
    "maxLength": 255,
}
PUT_ALLOCATIONS_V1_38["required"].append("consumer_type")
POST_ALLOCATIONS_V1_38 = copy.deepcopy(POST_ALLOCATIONS_V1_34)
POST_ALLOCATIONS_V1_38["patternProperties"] = {
    UUID_PATTERN: copy.deepcopy(PUT_ALLOCATIONS_V1_38)
}
