"""Query strings into typed queries: GET /resource_providers, /traits and
/usages, and the per-group pieces GET /allocation_candidates reuses (see
candidates_query.py). Messages and the microversion rules are Placement's:

    member_of    1.3; repeated (AND) from 1.24; !uuid and !in: from 1.32
    resources    1.4, RC:N,RC:N
    in_tree      1.14
    required     1.18; !TRAIT from 1.22; in:A,B and repeats (AND) from 1.39
                 (before 1.39 only the last `required` counts)
"""

from __future__ import annotations

import dataclasses

from starlette.datastructures import QueryParams

from berth.api.errors import ApiError
from berth.api.request import ApiRequest
from berth.api.schemas import resource_provider as rp_schema
from berth.api.schemas import trait as trait_schema
from berth.api.schemas import usage as usage_schema
from berth.api.schemas.validation import is_uuid_like, validate_query
from berth.placement.query import AggregateRequirement, ProviderQuery, TraitRequirement


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


# -- resources ---------------------------------------------------------------

_RESOURCES_FORM = (
    "Badly formed resources parameter. Expected resources query string "
    "parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: {}."
)


def parse_resources(text: str) -> dict[str, int]:
    """``VCPU:2,MEMORY_MB:1024`` -> {"VCPU": 2, "MEMORY_MB": 1024}."""
    if text.strip() == "":
        raise _bad(_RESOURCES_FORM.format("empty string"))
    amounts: dict[str, int] = {}
    for item in text.split(","):
        try:
            name, raw_amount = item.split(":")
        except ValueError:
            raise _bad(_RESOURCES_FORM.format(item)) from None
        try:
            amount = int(raw_amount)
        except ValueError:
            raise _bad(
                f"Requested resource {name} expected positive integer amount. "
                f"Got: {raw_amount}."
            ) from None
        if amount < 1:
            raise _bad(f"Requested resource {name} requires amount >= 1. Got: {amount}.")
        amounts[name] = amount
    return amounts


# -- member_of ---------------------------------------------------------------


def parse_member_of_value(value: str) -> tuple[frozenset[str], frozenset[str]]:
    """One member_of value -> (any of these aggregates, none of these)."""
    if "," in value and not value.startswith(("in:", "!in:")):
        raise _bad(
            "Multiple values for 'member_of' must be prefixed with the 'in:' "
            f"or '!in:' keyword using the valid microversion. Got: {value}"
        )
    required: frozenset[str] = frozenset()
    forbidden: frozenset[str] = frozenset()
    if value.startswith("!in:"):
        forbidden = frozenset(value[4:].split(","))
    elif value.startswith("!"):
        forbidden = frozenset([value[1:]])
    elif value.startswith("in:"):
        required = frozenset(value[3:].split(","))
    else:
        required = frozenset([value])
    for aggregate in sorted(required | forbidden):
        if not is_uuid_like(aggregate):
            raise _bad(
                "Invalid query string parameters: Expected 'member_of' parameter "
                f"to contain valid UUID(s). Got: {aggregate}"
            )
    return required, forbidden


def parse_member_of(req: ApiRequest, suffix: str = "") -> AggregateRequirement:
    values = req.query.getlist("member_of" + suffix)
    if len(values) > 1 and not req.wants("1.24"):
        raise _bad(f"Multiple member_of{suffix} parameters are not supported")
    any_of: list[frozenset[str]] = []
    forbidden: set[str] = set()
    for value in values:
        required, excluded = parse_member_of_value(value)
        if required:
            any_of.append(required)
        if excluded:
            if not req.wants("1.32"):
                raise _bad(
                    f"Forbidden member_of{suffix} parameters are not supported "
                    "in the specified microversion"
                )
            forbidden |= excluded
    return AggregateRequirement(any_of=tuple(any_of), forbidden=frozenset(forbidden))


# -- required traits ---------------------------------------------------------


def _parse_any_traits(value: str, allow_any: bool) -> list[frozenset[str]]:
    if not allow_any:
        raise _bad(
            "Invalid query string parameters: The format "
            "'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only supported since "
            f"microversion 1.39. Got: {value}"
        )
    traits = frozenset(part.strip() for part in value[3:].split(","))
    if not all(traits):
        raise _bad(
            "Invalid query string parameters: Expected 'required' parameter "
            "value of the form: in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty "
            f"trait in: {value}"
        )
    if any(trait.startswith("!") for trait in traits):
        raise _bad(
            "Invalid query string parameters: The format "
            "'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' does not support forbidden "
            f"traits. Got: {value}"
        )
    return [traits]


def parse_required_value(
    value: str, allow_forbidden: bool, allow_any: bool
) -> tuple[list[frozenset[str]], set[str]]:
    """One ``required`` value -> (groups of which one trait each is needed,
    forbidden traits)."""
    if value.startswith("in:"):
        return _parse_any_traits(value, allow_any), set()
    names = [part.strip() for part in value.split(",")]
    # Placement strips any number of leading '!' (a kept bug: !!FOO is FOO).
    forbidden = {name.lstrip("!") for name in names if name.startswith("!")}
    if not all(names) or not all(forbidden):
        form = "HW_CPU_X86_VMX,!CUSTOM_MAGIC" if allow_forbidden else "HW_CPU_X86_VMX,CUSTOM_MAGIC"
        raise _bad(
            "Invalid query string parameters: Expected 'required' parameter "
            f"value of the form: {form}. Got an empty trait in: {value}"
        )
    if forbidden and not allow_forbidden:
        raise _bad(
            "Invalid query string parameters: Expected 'required' parameter "
            f"value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {value}"
        )
    required = [frozenset([name]) for name in names if not name.startswith("!")]
    return required, forbidden


def parse_required(req: ApiRequest, suffix: str = "") -> TraitRequirement:
    allow_forbidden = req.wants("1.22")
    allow_any = req.wants("1.39")
    values = req.query.getlist("required" + suffix)
    if not allow_any:
        # Before 1.39 a repeated `required` means its last value.
        values = values[-1:]
    any_of: list[frozenset[str]] = []
    forbidden: set[str] = set()
    for value in values:
        groups, excluded = parse_required_value(value, allow_forbidden, allow_any)
        any_of += groups
        forbidden |= excluded
    return TraitRequirement(any_of=tuple(any_of), forbidden=frozenset(forbidden))


# -- in_tree (allocation candidates) -------------------------------------------


def parse_in_tree_value(value: str) -> str:
    """One ``in_tree`` value of GET /allocation_candidates -> a provider uuid.

    GET /resource_providers checks its in_tree with the query schema; the
    allocation-candidates handler has its own message for a bad one.
    """
    stripped = value.strip()
    if not is_uuid_like(stripped):
        raise _bad(
            "Invalid query string parameters: Expected 'in_tree' parameter "
            f"to be a format of uuid. Got: {value}"
        )
    return stripped


# -- GET /resource_providers -------------------------------------------------


def _provider_query_schema(req: ApiRequest) -> dict:
    for version, schema in (
        ("1.18", rp_schema.LIST_QUERY_V1_18),
        ("1.14", rp_schema.LIST_QUERY_V1_14),
        ("1.4", rp_schema.LIST_QUERY_V1_4),
        ("1.3", rp_schema.LIST_QUERY_V1_3),
    ):
        if req.wants(version):
            return schema
    return rp_schema.LIST_QUERY


def provider_query(req: ApiRequest) -> ProviderQuery:
    query = req.query
    validate_query(query, _provider_query_schema(req))
    fields: dict[str, object] = {}
    if "member_of" in query:
        fields["aggregates"] = parse_member_of(req)
    if "required" in query:
        fields["traits"] = parse_required(req)
    for name in ("uuid", "name", "in_tree"):
        if name in query:
            fields[name] = query[name]
    if "resources" in query:
        fields["resources"] = parse_resources(query["resources"])
    return ProviderQuery(**fields)  # type: ignore[arg-type]


# -- GET /traits -------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class TraitFilter:
    names: tuple[str, ...] | None = None
    prefix: str | None = None
    associated: bool | None = None


def trait_filter(query: QueryParams) -> TraitFilter:
    validate_query(query, trait_schema.LIST_QUERY)
    names = prefix = associated = None
    if "name" in query:
        text = query["name"]
        operator, separator, value = text.partition(":")
        if not separator:
            raise _bad(
                "Badly formatted name parameter. Expected name query string "
                "parameter in form: ?name=[in|startswith]:[name1,name2|prefix]. "
                f'Got: "{text}"'
            )
        # Placement ignores any other operator.
        if operator == "in":
            names = tuple(value.split(","))
        elif operator == "startswith":
            prefix = value
    if "associated" in query:
        flag = query["associated"].lower()
        if flag not in ("true", "false"):
            raise _bad('The query parameter "associated" only accepts "true" or "false"')
        associated = flag == "true"
    return TraitFilter(names=names, prefix=prefix, associated=associated)


# -- GET /usages -------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class UsageFilter:
    project_id: str
    user_id: str | None = None
    consumer_type: str | None = None


def usage_filter(req: ApiRequest) -> UsageFilter:
    by_type = req.wants("1.38")
    schema = usage_schema.USAGES_QUERY_V1_38 if by_type else usage_schema.USAGES_QUERY
    validate_query(req.query, schema)
    return UsageFilter(
        project_id=req.query["project_id"],
        user_id=req.query.get("user_id"),
        consumer_type=req.query.get("consumer_type") if by_type else None,
    )
