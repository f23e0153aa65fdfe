"""Schemas of berth's builds: POST /builds, an agent's report on an
attempt, and the paging parameters of GET /builds."""

from __future__ import annotations

import copy

from berth.api.schemas.selection import SPEC

POST_BUILDS = {
    "type": "object",
    "properties": {
        "request_spec": copy.deepcopy(SPEC),
        "num_instances": {"type": "integer", "minimum": 1, "maximum": 1000},
        "num_alternates": {"type": "integer", "minimum": 0, "maximum": 100},
    },
    "required": ["request_spec"],
    "additionalProperties": False,
}

PUT_ATTEMPT = {
    "type": "object",
    "properties": {
        "outcome": {"enum": ["succeeded", "failed"]},
        "reason": {"anyOf": [{"type": "string", "maxLength": 4096}, {"type": "null"}]},
        "failure_kind": {"enum": ["resource_race", "network", "hardware", None]},
    },
    "required": ["outcome"],
    "additionalProperties": False,
}

# GET /builds?limit=&marker=
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
