"""The GET /allocation_candidates query string into a CandidateRequest.

Placement's rules, per microversion:

    resources, limit (1.16), required (1.17; !T 1.22; in:A,B and repeats 1.39)
    member_of (1.21; repeats 1.24; ! and !in: 1.32)
    resourcesN / requiredN / member_ofN and group_policy (1.25)
    nested-aware search (1.29), in_tree / in_treeN (1.31)
    string suffixes [A-Za-z0-9_-]{1,64} (1.33), root_required (1.35)
    same_subtree and resourceless groups (1.36)

The checks run in Placement's order, so a request with several faults gets
the error Placement would give: the query schema, the request-wide
parameters, each group key in query-string order, the groups as a whole,
conflicting traits, then group_policy. Names of classes and traits are
checked against the store by the handler.
"""

from __future__ import annotations

import dataclasses
import re

from berth.api import errors
from berth.api.errors import ApiError
from berth.api.query import (
    parse_in_tree_value,
    parse_member_of,
    parse_required,
    parse_required_value,
    parse_resources,
)
from berth.api.request import ApiRequest
from berth.api.schemas import allocation_candidate as schema
from berth.api.schemas.common import GROUP_PATTERN, GROUP_PATTERN_1_33
from berth.api.schemas.validation import validate_query
from berth.placement.candidates.request import CandidateRequest, GroupPolicy, RequestGroup
from berth.placement.query import AggregateRequirement, TraitRequirement

_KEYS = "|".join(schema.GROUP_KEYS)
_GROUP_KEY = re.compile(rf"({_KEYS})({GROUP_PATTERN})?")
_GROUP_KEY_1_33 = re.compile(rf"({_KEYS})({GROUP_PATTERN_1_33})?")


def _bad(message: str, code: str | None = None) -> ApiError:
    return ApiError(400, message, code=code)


# -- request-wide parameters -------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class RequestWide:
    """The parameters that apply to the whole request. ``same_subtrees``
    keeps the suffixes in the order given, for error messages."""

    limit: int | None = None
    group_policy: GroupPolicy | None = None
    root_traits: TraitRequirement = TraitRequirement()
    same_subtrees: tuple[tuple[str, ...], ...] = ()

    @property
    def subtree_suffixes(self) -> tuple[str, ...]:
        """Every suffix named in ``same_subtree``, first mention first."""
        return tuple(dict.fromkeys(s for subtree in self.same_subtrees for s in subtree))


def _first_value(req: ApiRequest, name: str) -> str | None:
    """The first of a repeated parameter, checked like the last one.

    Placement uses the first ``limit`` and ``group_policy`` while its schema
    sees only the last; checking the first too turns what would be its 500
    (``limit=x&limit=1``) into the schema's 400.
    """
    values = req.query.getlist(name)
    if not values:
        return None
    prop = schema.GET_QUERY_V1_36["properties"][name]
    validate_query({name: values[0]}, {"type": "object", "properties": {name: prop}})
    return values[0]


def _root_traits(req: ApiRequest) -> TraitRequirement:
    values = req.query.getlist("root_required")
    if not values:
        return TraitRequirement()
    if len(values) > 1:
        raise _bad(
            "Query parameter 'root_required' may be specified only once.",
            errors.ILLEGAL_DUPLICATE_QUERYPARAM,
        )
    # root_required takes neither 'in:' nor repeats, at any microversion.
    any_of, forbidden = parse_required_value(values[0], allow_forbidden=True, allow_any=False)
    required = frozenset().union(*any_of)
    conflicts = required & forbidden
    if conflicts:
        raise _bad(
            "Conflicting required and forbidden traits found in root_required: "
            + ", ".join(sorted(conflicts)),
            errors.QUERYPARAM_BAD_VALUE,
        )
    return TraitRequirement(any_of=tuple(any_of), forbidden=frozenset(forbidden))


def _same_subtrees(req: ApiRequest) -> tuple[tuple[str, ...], ...]:
    subtrees = []
    for value in req.query.getlist("same_subtree"):
        suffixes = tuple(dict.fromkeys(part.strip() for part in value.split(",")))
        if "" in suffixes:
            # The trailing space is Placement's.
            raise _bad(
                "Empty string (unsuffixed group) can not be specified in `same_subtree` ",
                errors.QUERYPARAM_BAD_VALUE,
            )
        subtrees.append(suffixes)
    return tuple(subtrees)


def request_wide(req: ApiRequest) -> RequestWide:
    """The request-wide parameters (the schema has already run)."""
    limit = _first_value(req, "limit")
    policy = _first_value(req, "group_policy")
    return RequestWide(
        limit=int(limit) if limit is not None else None,
        group_policy=GroupPolicy(policy) if policy is not None else None,
        root_traits=_root_traits(req),
        same_subtrees=_same_subtrees(req),
    )


# -- request groups ----------------------------------------------------------


@dataclasses.dataclass(slots=True)
class _Draft:
    """A request group while its keys are read."""

    resources: dict[str, int] = dataclasses.field(default_factory=dict)
    traits: TraitRequirement = TraitRequirement()
    aggregates: AggregateRequirement = AggregateRequirement()
    in_tree: str | None = None

    def freeze(self, suffix: str) -> RequestGroup:
        return RequestGroup(
            suffix=suffix,
            resources=self.resources,
            traits=self.traits,
            aggregates=self.aggregates,
            in_tree=self.in_tree,
        )


def _read_key(req: ApiRequest, draft: _Draft, prefix: str, suffix: str, value: str) -> None:
    """One group key's value into its group. A repeated ``resources`` or
    ``in_tree`` is checked each time and the last one counts; ``required``
    and ``member_of`` read all their values at once."""
    if prefix == "resources":
        draft.resources = parse_resources(value)
    elif prefix == "required":
        draft.traits = parse_required(req, suffix)
    elif prefix == "member_of":
        draft.aggregates = parse_member_of(req, suffix)
    else:
        draft.in_tree = parse_in_tree_value(value)


def parse_groups(req: ApiRequest) -> dict[str, RequestGroup]:
    """suffix -> group, in the order their first key appears (which is the
    order Placement's messages list them in)."""
    pattern = _GROUP_KEY_1_33 if req.wants("1.33") else _GROUP_KEY
    drafts: dict[str, _Draft] = {}
    for key, value in req.query.multi_items():
        match = pattern.fullmatch(key)
        if match is None:
            continue
        prefix, suffix = match.group(1), match.group(2) or ""
        _read_key(req, drafts.setdefault(suffix, _Draft()), prefix, suffix, value)
    return {suffix: draft.freeze(suffix) for suffix, draft in drafts.items()}


# -- checks over all groups --------------------------------------------------


def _check_orphans(groups: dict[str, RequestGroup]) -> None:
    """Before 1.36 every group needs resources."""
    orphans = [f"required{s}" for s, g in groups.items() if g.traits.any_of and not g.resources]
    if orphans:
        raise _bad(
            "All traits parameters must be associated with resources.  Found the "
            "following orphaned traits keys: " + ", ".join(orphans)
        )
    orphans = [
        f"member_of{s}" for s, g in groups.items()
        if not g.aggregates.is_empty and not g.resources
    ]
    if orphans:
        raise _bad(
            "All member_of parameters must be associated with resources. Found "
            "the following orphaned member_of keys: " + ", ".join(orphans)
        )
    if not all(group.resources for group in groups.values()):
        raise _bad("All request groups must specify resources.")
    if not groups:
        raise _bad("At least one request group (`resources` or `resources{$S}`) is required.")


def _check_resourceless(groups: dict[str, RequestGroup], wide: RequestWide) -> None:
    """From 1.36 a group without resources is allowed when same_subtree
    names it, and same_subtree may name only groups that exist."""
    resourceless = [suffix for suffix, group in groups.items() if not group.resources]
    if len(resourceless) == len(groups):
        raise _bad(
            "There must be at least one resources or resources[$S] parameter.",
            errors.QUERYPARAM_MISSING_VALUE,
        )
    in_subtrees = wide.subtree_suffixes
    unnamed = [suffix for suffix in resourceless if suffix not in in_subtrees]
    if unnamed:
        raise _bad(
            "Resourceless suffixed group request should be specified in "
            f"`same_subtree` query param: bad group(s) - {unnamed}.",
            errors.QUERYPARAM_BAD_VALUE,
        )
    unknown = [suffix for suffix in in_subtrees if suffix not in groups]
    if unknown:
        raise _bad(
            f"Real suffixes should be specified in `same_subtree`: {unknown} not "
            f"found in {list(groups)}.",
            errors.QUERYPARAM_BAD_VALUE,
        )


def _check_conflicts(groups: dict[str, RequestGroup]) -> None:
    """A required set all of whose traits are forbidden can never match."""
    conflicts = [
        f"required{suffix}: ({', '.join(sorted(any_of))})"
        for suffix, group in groups.items()
        for any_of in group.traits.any_of
        if any_of <= group.traits.forbidden
    ]
    if conflicts:
        raise _bad(
            "Conflicting required and forbidden traits found in the following "
            "traits keys: " + ", ".join(sorted(conflicts))
        )


def _check_group_policy(groups: dict[str, RequestGroup], wide: RequestWide) -> None:
    if wide.group_policy is None and sum(1 for g in groups.values() if g.suffix) > 1:
        raise _bad(
            'The "group_policy" parameter is required when specifying more '
            'than one "resources{N}" parameter.'
        )


# -- the whole request -------------------------------------------------------


def _schema(req: ApiRequest) -> dict:
    for version, candidate in schema.BY_VERSION:
        if req.wants(version):
            return candidate
    raise ValueError(f"no allocation-candidates schema for {req.version}")


def candidate_request(req: ApiRequest, *, randomize: bool = False) -> CandidateRequest:
    """The request, or ApiError(400) with Placement's message."""
    validate_query(req.query, _schema(req))
    wide = request_wide(req)
    groups = parse_groups(req)
    if req.wants("1.36"):
        _check_resourceless(groups, wide)
    else:
        _check_orphans(groups)
    if req.wants("1.22"):
        _check_conflicts(groups)
    _check_group_policy(groups, wide)
    return CandidateRequest(
        groups=tuple(groups.values()),
        group_policy=wide.group_policy or GroupPolicy.NONE,
        limit=wide.limit,
        root_traits=wide.root_traits,
        same_subtrees=tuple(frozenset(subtree) for subtree in wide.same_subtrees),
        nested_aware=req.wants("1.29"),
        randomize=randomize,
    )
