"""Schemas of /resource_providers bodies and query strings."""

from __future__ import annotations

import copy

from berth.api.schemas.common import UUID

POST_PROVIDER = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 200},
        "uuid": UUID,
    },
    "required": ["name"],
    "additionalProperties": False,
}
PUT_PROVIDER = copy.deepcopy(POST_PROVIDER)
del PUT_PROVIDER["properties"]["uuid"]

# 1.14: a provider may name its parent.
POST_PROVIDER_V1_14 = copy.deepcopy(POST_PROVIDER)
POST_PROVIDER_V1_14["properties"]["parent_provider_uuid"] = {
    "anyOf": [UUID, {"type": "null"}]
}
PUT_PROVIDER_V1_14 = copy.deepcopy(POST_PROVIDER_V1_14)
del PUT_PROVIDER_V1_14["properties"]["uuid"]

LIST_QUERY = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "uuid": {"type": "string", "format": "uuid"},
    },
    "additionalProperties": False,
}
# 1.3: member_of.
LIST_QUERY_V1_3 = copy.deepcopy(LIST_QUERY)
LIST_QUERY_V1_3["properties"]["member_of"] = {"type": "string"}
# 1.4: resources=RC:N,... (its format is checked by query.py).
LIST_QUERY_V1_4 = copy.deepcopy(LIST_QUERY_V1_3)
LIST_QUERY_V1_4["properties"]["resources"] = {"type": "string"}
# 1.14: in_tree.
LIST_QUERY_V1_14 = copy.deepcopy(LIST_QUERY_V1_4)
LIST_QUERY_V1_14["properties"]["in_tree"] = {"type": "string", "format": "uuid"}
# 1.18: required traits.
LIST_QUERY_V1_18 = copy.deepcopy(LIST_QUERY_V1_14)
LIST_QUERY_V1_18["properties"]["required"] = {"type": "string"}
