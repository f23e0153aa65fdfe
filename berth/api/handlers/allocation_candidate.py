"""GET /allocation_candidates (1.10): where a request would fit right now,
and the allocation that would claim each place.

The query string becomes a CandidateRequest (berth.api.candidates_query),
the finder searches, and the result is rendered in the microversion's shape:

    allocation_requests   a list of {resource_provider, resources} before
                          1.12, a dict keyed by provider uuid from 1.12;
                          mappings (group suffix -> providers) from 1.34
    provider_summaries    only the requested classes before 1.27, every
                          class from 1.27; traits from 1.17; parent and root
                          provider uuids from 1.29
"""

from __future__ import annotations

import dataclasses

from starlette.responses import Response

from berth.api import candidates_query
from berth.api.dispatch import json_answer
from berth.api.errors import ApiError
from berth.api.microversion import versioned
from berth.api.request import ApiRequest
from berth.api.responses import json_response, utcnow
from berth.placement import errors as domain
from berth.placement.candidates.request import CandidateRequest
from berth.placement.candidates.result import (
    AllocationRequest,
    CandidateResult,
    ProviderSummary,
)

LIST = "placement:allocation_candidates:list"


# -- names -------------------------------------------------------------------


def _check_names_exist(req: ApiRequest, request: CandidateRequest) -> None:
    """Unknown classes and traits are the caller's error, reported in the
    order Placement resolves them: root_required, then each group's classes
    and traits. (Placement stops resolving once a group has no candidates;
    berth checks every name, so a typo is never silently an empty answer.)
    Names some provider has exist; only the others are looked up."""
    unknown = req.candidates.unknown_names(request.resource_classes, request.trait_names)
    missing_classes = {name for name in unknown.classes if not _class_exists(req, name)}
    missing_traits = set(unknown.traits)
    if unknown.traits:
        missing_traits -= {trait.name for trait in req.store.list_traits(names=sorted(unknown.traits))}

    def check_traits(names: frozenset[str]) -> None:
        missing = names & missing_traits
        if missing:
            raise ApiError(400, str(domain.TraitNotFound(sorted(missing))))

    check_traits(request.root_traits.names)
    for group in request.groups:
        for name in group.resources:
            if name in missing_classes:
                raise ApiError(
                    400,
                    "Invalid resource class in resources parameter: "
                    f"{domain.ResourceClassNotFound(name)}",
                )
        check_traits(group.traits.names)


def _class_exists(req: ApiRequest, name: str) -> bool:
    try:
        req.store.get_resource_class(name)
    except domain.ResourceClassNotFound:
        return False
    return True


# -- the answer --------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Shape:
    """What the request's microversion puts in the answer, decided once."""

    dict_form: bool  # 1.12
    mappings: bool  # 1.34
    every_class: bool  # 1.27
    traits: bool  # 1.17
    tree: bool  # 1.29

    @classmethod
    def of(cls, req: ApiRequest) -> _Shape:
        return cls(
            req.wants("1.12"), req.wants("1.34"), req.wants("1.27"),
            req.wants("1.17"), req.wants("1.29"),
        )


def _allocation_request(shape: _Shape, candidate: AllocationRequest) -> dict:
    if not shape.dict_form:
        # The body of a PUT /allocations/{consumer} before 1.12.
        return {
            "allocations": [
                {"resource_provider": {"uuid": rp}, "resources": dict(resources)}
                for rp, resources in candidate.allocations.items()
            ]
        }
    data: dict[str, object] = {
        "allocations": {
            rp: {"resources": dict(resources)}
            for rp, resources in candidate.allocations.items()
        }
    }
    if shape.mappings:
        data["mappings"] = {suffix: list(rps) for suffix, rps in candidate.mappings.items()}
    return data


def _trait_order(name: str) -> tuple[bool, str]:
    """Standard traits, then custom ones, each by name. Placement lists a
    provider's traits in trait-id order: the standard traits are synced
    (in no fixed order) before any custom trait can be created, so custom
    traits always come last, and clients' tests rely on that."""
    return name.startswith("CUSTOM_"), name


def _provider_summary(shape: _Shape, summary: ProviderSummary, requested: frozenset[str]) -> dict:
    data: dict[str, object] = {
        "resources": {
            rc: {"capacity": usage.capacity, "used": usage.used}
            for rc, usage in summary.resources.items()
            if shape.every_class or rc in requested
        }
    }
    if shape.traits:
        data["traits"] = sorted(summary.traits, key=_trait_order)
    if shape.tree:
        data["parent_provider_uuid"] = summary.parent_provider_uuid
        data["root_provider_uuid"] = summary.root_provider_uuid
    return data


def render(req: ApiRequest, request: CandidateRequest, result: CandidateResult) -> dict:
    requested = request.resource_classes
    shape = _Shape.of(req)
    return {
        "allocation_requests": [
            _allocation_request(shape, candidate) for candidate in result.allocation_requests
        ],
        "provider_summaries": {
            summary.uuid: _provider_summary(shape, summary, requested)
            for summary in result.provider_summaries
        },
    }


@versioned("1.10")
@json_answer
def list_allocation_candidates(req: ApiRequest) -> Response:
    req.authorize(LIST)
    if req.candidates is None:
        raise RuntimeError("the app was built without a candidate finder")
    request = candidates_query.candidate_request(
        req, randomize=req.settings.placement.randomize_allocation_candidates
    )
    # The search refreshes the index the name check reads.
    result = req.candidates.find(request)
    _check_names_exist(req, request)
    # Candidates are computed now: Placement says "modified now" too.
    return json_response(req, render(req, request, result), last_modified=utcnow())
