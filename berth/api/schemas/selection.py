"""Schemas of berth's own scheduling resources: POST /selections, the claim
of an alternate, and a provider's cell."""

from __future__ import annotations

import copy

from berth.api.schemas.common import GROUP_PATTERN_1_33, MAX_INT, NON_EMPTY_ID, RC_PATTERN, UUID

_TRAIT = {"type": "string", "minLength": 1, "maxLength": 255}
_NAMES = {"type": "array", "items": copy.deepcopy(_TRAIT), "uniqueItems": True}
# A required entry is one trait, or a list of which any one will do (in:A,B).
_REQUIRED = {
    "type": "array",
    "items": {"anyOf": [copy.deepcopy(_TRAIT), {**copy.deepcopy(_NAMES), "minItems": 1}]},
}
_UUIDS = {"type": "array", "items": copy.deepcopy(UUID)}

_GROUP_PROPERTIES = {
    "resources": {
        "type": "object",
        "patternProperties": {RC_PATTERN: {"type": "integer", "minimum": 1, "maximum": MAX_INT}},
        "additionalProperties": False,
    },
    "required": _REQUIRED,
    "forbidden": _NAMES,
    # Each entry is a list of aggregates of which the provider must be in one.
    "member_of": {"type": "array", "items": {**copy.deepcopy(_UUIDS), "minItems": 1}},
    "forbidden_aggregates": _UUIDS,
    "in_tree": UUID,
}

_GROUP = {"type": "object", "properties": _GROUP_PROPERTIES, "additionalProperties": False}

_SERVER_GROUP = {
    "type": "object",
    "properties": {
        "uuid": UUID,
        "policy": {"enum": ["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]},
        "members": _UUIDS,
        "max_server_per_host": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
    },
    "required": ["uuid", "policy"],
    "additionalProperties": False,
}

_HINTS = {
    "type": "object",
    "properties": {
        "cell": {**NON_EMPTY_ID},
        "availability_zone": {**NON_EMPTY_ID},
        "server_group": _SERVER_GROUP,
        "same_host": _UUIDS,
        "different_host": _UUIDS,
        "max_instances_per_host": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
    },
    "additionalProperties": False,
}

SPEC = {
    "type": "object",
    "properties": {
        # The unsuffixed group, at the top level of the spec.
        **_GROUP_PROPERTIES,
        # Granular groups by suffix (Placement's resources_<suffix>).
        "groups": {
            "type": "object",
            "patternProperties": {f"^{GROUP_PATTERN_1_33}$": _GROUP},
            "additionalProperties": False,
        },
        "group_policy": {"enum": ["none", "isolate"]},
        "root_required": _NAMES,
        "root_forbidden": _NAMES,
        "same_subtree": {"type": "array", "items": {**copy.deepcopy(_NAMES), "minItems": 1}},
        "project_id": NON_EMPTY_ID,
        "user_id": NON_EMPTY_ID,
        "instance_uuids": {**copy.deepcopy(_UUIDS), "uniqueItems": True},
        "hints": _HINTS,
    },
    "required": ["project_id", "user_id"],
    "additionalProperties": False,
}

POST_SELECTIONS = {
    "type": "object",
    "properties": {
        "spec": SPEC,
        "num_instances": {"type": "integer", "minimum": 1, "maximum": 1000},
        "num_alternates": {"type": "integer", "minimum": 0, "maximum": 100},
    },
    "required": ["spec"],
    "additionalProperties": False,
}

PUT_CELL = {
    "type": "object",
    "properties": {"cell": {"anyOf": [{**NON_EMPTY_ID}, {"type": "null"}]}},
    "required": ["cell"],
    "additionalProperties": False,
}
