"""Schemas of /resource_classes bodies."""

from __future__ import annotations

import copy

from berth.api.schemas.common import CUSTOM_RC_PATTERN

POST_RESOURCE_CLASS = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": CUSTOM_RC_PATTERN, "maxLength": 255},
    },
    "required": ["name"],
    "additionalProperties": False,
}
# 1.2-1.6 rename; from 1.7 the name in the path is checked with it too.
PUT_RESOURCE_CLASS = copy.deepcopy(POST_RESOURCE_CLASS)
