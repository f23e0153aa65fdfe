"""Running schemas: JSON bodies and query strings, with Placement's messages."""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Mapping
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from berth.api.errors import ApiError


def is_uuid_like(value: object) -> bool:
    """A uuid with or without dashes, braces or ``urn:uuid:``, as Placement
    (oslo.utils) accepts in bodies."""
    if not isinstance(value, str):
        return False
    try:
        parsed = uuidlib.UUID(value)
    except ValueError:
        return False
    bare = value.lower().replace("urn:", "").replace("uuid:", "")
    bare = bare.strip("{}").replace("-", "")
    return parsed.hex == bare


_BODY_FORMATS = jsonschema.FormatChecker()
_BODY_FORMATS.checks("uuid")(is_uuid_like)
# Query strings are checked with jsonschema's own formats (a dashed uuid),
# as Placement does.
_QUERY_FORMATS = jsonschema.FormatChecker()


# Schemas are module constants: build each validator once, keyed by identity
# (the schema is kept in the value so its id is never reused).
_VALIDATORS: dict[tuple[int, bool], tuple[Mapping[str, Any], Any]] = {}


def _validator(schema: Mapping[str, Any], for_query: bool) -> Any:
    key = (id(schema), for_query)
    cached = _VALIDATORS.get(key)
    if cached is None or cached[0] is not schema:
        cls = jsonschema.validators.validator_for(schema)
        formats = _QUERY_FORMATS if for_query else _BODY_FORMATS
        cached = (schema, cls(schema, format_checker=formats))
        _VALIDATORS[key] = cached
    return cached[1]


def first_error(data: object, schema: Mapping[str, Any], *, for_query: bool = False):
    """The error ``jsonschema.validate`` would raise, or None."""
    validator = _validator(schema, for_query)
    return best_match(validator.iter_errors(data))


def _refuse_constant(name: str) -> Any:
    # Python's json reads NaN and +/-Infinity, which are not JSON numbers;
    # let through, a NaN or -Infinity allocation ratio passes the schema and
    # breaks the capacity arithmetic (a 500 in Placement too).
    raise ValueError(f"{name} is not a JSON number")


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise ApiError(400, f"Malformed JSON: {exc}") from None


def extract_json(body: bytes, schema: Mapping[str, Any]) -> Any:
    """The body's JSON, validated against ``schema``."""
    data = parse_json(body)
    error = first_error(data, schema)
    if error is not None:
        raise ApiError(400, f"JSON does not validate: {error}")
    return data


def validate_query(params: Mapping[str, str], schema: Mapping[str, Any]) -> None:
    """Check the query string (last value of each key) against ``schema``."""
    error = first_error(dict(params), schema, for_query=True)
    if error is not None:
        raise ApiError(400, f"Invalid query string parameters: {error}")
