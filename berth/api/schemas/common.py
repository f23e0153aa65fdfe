"""Patterns and pieces shared by the schemas."""

from __future__ import annotations

from berth.placement.model import MAX_INT

UUID_PATTERN = "^[0-9a-fA-F-]{36}$"
RC_PATTERN = "^[A-Z0-9_]+$"
CUSTOM_RC_PATTERN = "^CUSTOM_[A-Z0-9_]+$"
CUSTOM_TRAIT_PATTERN = CUSTOM_RC_PATTERN
CONSUMER_TYPE_PATTERN = RC_PATTERN
# GET /usages also accepts the pseudo types "all" and "unknown".
CONSUMER_TYPE_GET_PATTERN = f"{CONSUMER_TYPE_PATTERN}|^all|^unknown$"
# Request group suffixes: numbers before 1.33, short strings from 1.33.
GROUP_PATTERN = r"[1-9][0-9]*"
GROUP_PATTERN_1_33 = r"[a-zA-Z0-9_-]{1,64}"

# The largest float a single-precision SQL column holds (allocation_ratio).
SQL_SP_FLOAT_MAX = 3.40282e38

UUID = {"type": "string", "format": "uuid"}
NON_EMPTY_ID = {"type": "string", "minLength": 1, "maxLength": 255}

__all__ = ["MAX_INT"]
