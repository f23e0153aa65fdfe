"""Schemas of the GET /allocation_candidates query string, per microversion.

Each version is derived from the one before, as Placement's are; the value
formats (``resources``, ``required``, ``member_of``, ``in_tree``) are checked
by berth.api.candidates_query, which gives Placement's own messages.
"""

from __future__ import annotations

import copy

from berth.api.schemas.common import GROUP_PATTERN, GROUP_PATTERN_1_33

# The keys a request group is made of; 1.25 adds numbered groups, 1.31
# in_tree, 1.33 string suffixes.
GROUP_KEYS = ("resources", "required", "member_of", "in_tree")

GET_QUERY_V1_10 = {
    "type": "object",
    "properties": {"resources": {"type": "string"}},
    "required": ["resources"],
    "additionalProperties": False,
}

# 1.16: limit, a positive integer (a query value is always a string).
GET_QUERY_V1_16 = copy.deepcopy(GET_QUERY_V1_10)
GET_QUERY_V1_16["properties"]["limit"] = {
    "type": ["integer", "string"],
    "pattern": "^[1-9][0-9]*$",
    "minimum": 1,
    "minLength": 1,
}

# 1.17: required traits.
GET_QUERY_V1_17 = copy.deepcopy(GET_QUERY_V1_16)
GET_QUERY_V1_17["properties"]["required"] = {"type": ["string"]}

# 1.21: member_of.
GET_QUERY_V1_21 = copy.deepcopy(GET_QUERY_V1_17)
GET_QUERY_V1_21["properties"]["member_of"] = {"type": ["string"]}


def _group_keys(suffix_pattern: str, keys: tuple[str, ...]) -> dict:
    return {f"^{key}({suffix_pattern})?$": {"type": "string"} for key in keys}


# 1.25: the group keys, bare or numbered, become patterns (no longer
# required: a request may consist of numbered groups only); group_policy.
GET_QUERY_V1_25 = copy.deepcopy(GET_QUERY_V1_21)
del GET_QUERY_V1_25["required"]
for _key in ("resources", "required", "member_of"):
    del GET_QUERY_V1_25["properties"][_key]
GET_QUERY_V1_25["patternProperties"] = _group_keys(GROUP_PATTERN, GROUP_KEYS[:3])
GET_QUERY_V1_25["properties"]["group_policy"] = {
    "type": "string",
    "enum": ["none", "isolate"],
}

# 1.31: in_tree and in_treeN.
GET_QUERY_V1_31 = copy.deepcopy(GET_QUERY_V1_25)
GET_QUERY_V1_31["patternProperties"] = _group_keys(GROUP_PATTERN, GROUP_KEYS)

# 1.33: string suffixes.
GET_QUERY_V1_33 = copy.deepcopy(GET_QUERY_V1_31)
GET_QUERY_V1_33["patternProperties"] = _group_keys(GROUP_PATTERN_1_33, GROUP_KEYS)

# 1.35: root_required.
GET_QUERY_V1_35 = copy.deepcopy(GET_QUERY_V1_33)
GET_QUERY_V1_35["properties"]["root_required"] = {"type": ["string"]}

# 1.36: same_subtree.
GET_QUERY_V1_36 = copy.deepcopy(GET_QUERY_V1_35)
GET_QUERY_V1_36["properties"]["same_subtree"] = {"type": ["string"]}

# Newest first: the first whose version the request reaches applies.
BY_VERSION = (
    ("1.36", GET_QUERY_V1_36),
    ("1.35", GET_QUERY_V1_35),
    ("1.33", GET_QUERY_V1_33),
    ("1.31", GET_QUERY_V1_31),
    ("1.25", GET_QUERY_V1_25),
    ("1.21", GET_QUERY_V1_21),
    ("1.17", GET_QUERY_V1_17),
    ("1.16", GET_QUERY_V1_16),
    ("1.10", GET_QUERY_V1_10),
)
