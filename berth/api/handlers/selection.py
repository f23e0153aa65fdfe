"""berth's own scheduling resources (not Placement's):

    POST /selections                                 place instances, claimed
    POST /selections/alternates/{alternate_id}/claim move an instance to an alternate
    GET|PUT /resource_providers/{uuid}/cell          a provider's cell

Served from microversion 1.39 (ask with ``placement 1.39`` or ``latest``);
below it they do not exist (404), as in Placement. See docs/scheduler.md.
"""

from __future__ import annotations

import datetime
import threading
import weakref

from starlette.responses import Response

from berth.api.dispatch import json_answer, json_body
from berth.api.errors import ApiError
from berth.api.microversion import versioned
from berth.api.request import ApiRequest
from berth.api.responses import json_response
from berth.api.schemas import selection as schema
from berth.placement import errors as domain
from berth.placement.candidates.request import CandidateRequest, GroupPolicy, RequestGroup
from berth.placement.candidates.result import AllocationRequest
from berth.placement.query import AggregateRequirement, TraitRequirement
from berth.scheduler import GroupPolicy as ServerGroupPolicy
from berth.scheduler import (
    NoValidHost,
    RequestSpec,
    Scheduler,
    SchedulingHints,
    Selection,
    ServerGroup,
)
from berth.scheduler.explanation import Explanation
from berth.scheduler.finder import SchedulerFinder
from berth.scheduler.selection import AlternateNotFound, AlternateUnavailable, ConsumerExists

FIRST_VERSION = "1.39"

CREATE = "berth:selections:create"
CLAIM_ALTERNATE = "berth:selections:alternates:claim"
CELL_SHOW = "berth:resource_providers:cell:show"
CELL_UPDATE = "berth:resource_providers:cell:update"

# berth's own error codes; never change or reuse one.
NO_VALID_HOST = "berth.scheduler.no_valid_host"
ALTERNATE_UNAVAILABLE = "berth.scheduler.alternate_unavailable"
ALTERNATE_NOT_FOUND = "berth.scheduler.alternate_not_found"
CONSUMER_EXISTS = "berth.scheduler.consumer_exists"

# One scheduler per store (so per app): it keeps the index of hosts and the
# recent build failures, which must outlive a request.
_SCHEDULERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SCHEDULERS_LOCK = threading.Lock()


def scheduler_for(req: ApiRequest) -> Scheduler:
    with _SCHEDULERS_LOCK:
        scheduler = _SCHEDULERS.get(req.store)
        if scheduler is None:
            # The app's candidate finder, when it is a scheduler's: one
            # index for both routes.
            finder = req.candidates if isinstance(req.candidates, SchedulerFinder) else None
            scheduler = _SCHEDULERS[req.store] = Scheduler(req.store, req.settings.scheduler, finder=finder)
        return scheduler


# -- from the body -------------------------------------------------------------


def _group(suffix: str, data: dict) -> RequestGroup:
    any_of = tuple(
        frozenset([entry]) if isinstance(entry, str) else frozenset(entry)
        for entry in data.get("required", ())
    )
    return RequestGroup(
        suffix,
        dict(data.get("resources", {})),
        TraitRequirement(any_of, frozenset(data.get("forbidden", ()))),
        AggregateRequirement(
            tuple(frozenset(m) for m in data.get("member_of", ())),
            frozenset(data.get("forbidden_aggregates", ())),
        ),
        data.get("in_tree"),
    )


def _candidate_request(spec: dict) -> CandidateRequest:
    groups = []
    if spec.get("resources") or not spec.get("groups"):
        groups.append(_group("", spec))
    groups += [_group(suffix, data) for suffix, data in spec.get("groups", {}).items()]
    if not any(group.resources for group in groups):
        raise ApiError(400, "The spec asks for no resources.")
    return CandidateRequest(
        tuple(groups),
        group_policy=GroupPolicy(spec.get("group_policy", "none")),
        root_traits=TraitRequirement(
            tuple(frozenset([t]) for t in spec.get("root_required", ())),
            frozenset(spec.get("root_forbidden", ())),
        ),
        same_subtrees=tuple(frozenset(s) for s in spec.get("same_subtree", ())),
    )


def _hints(data: dict) -> SchedulingHints:
    group = data.get("server_group")
    return SchedulingHints(
        cell=data.get("cell"),
        availability_zone=data.get("availability_zone"),
        server_group=ServerGroup(
            group["uuid"], ServerGroupPolicy(group["policy"]), tuple(group.get("members", ())),
            group.get("max_server_per_host", 1),
        ) if group else None,
        same_host=tuple(data.get("same_host", ())),
        different_host=tuple(data.get("different_host", ())),
        max_instances_per_host=data.get("max_instances_per_host", 0),
    )


def _check_names(req: ApiRequest, request: CandidateRequest) -> None:
    """Unknown classes and traits are the caller's mistake, not "no host"."""
    classes = {rc.name for rc in req.store.list_resource_classes()}
    unknown = sorted(request.resource_classes - classes)
    if unknown:
        raise ApiError(400, f"No such resource class {', '.join(unknown)}.")
    mentioned = request.trait_names
    known = {t.name for t in req.store.list_traits(names=sorted(mentioned))} if mentioned else set()
    if mentioned - known:
        raise ApiError(400, f"No such trait(s): {', '.join(sorted(mentioned - known))}.")


def request_spec(req: ApiRequest, spec_data: dict) -> RequestSpec:
    """The typed spec of a body validated against ``schema.SPEC`` (also
    the request spec of POST /builds); unknown names are a 400."""
    request = _candidate_request(spec_data)
    _check_names(req, request)
    return RequestSpec(
        request, spec_data["project_id"], spec_data["user_id"],
        tuple(spec_data.get("instance_uuids", ())), _hints(spec_data.get("hints", {})),
    )


# -- to the answer ---------------------------------------------------------------


def _when(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat().replace("+00:00", "Z")


def _allocation_request(allocation: AllocationRequest) -> dict:
    """Placement's 1.34 allocation-request shape, ready for PUT /allocations."""
    return {
        "allocations": {rp: {"resources": dict(res)} for rp, res in allocation.allocations.items()},
        "mappings": {suffix: list(rps) for suffix, rps in allocation.mappings.items()},
    }


def _selection(selection: Selection) -> dict:
    return {
        "consumer_uuid": selection.consumer_uuid,
        "resource_provider_uuid": selection.provider_uuid,
        "cell": selection.cell,
        "claimed": selection.claimed,
        "allocation_request": _allocation_request(selection.allocation_request),
        "alternate_id": selection.alternate_id,
        "expires_at": _when(selection.expires_at),
    }


def _explanation(explanation: Explanation) -> dict:
    return {
        "candidate_hosts": explanation.candidates,
        "hosts": explanation.hosts,
        "query": [{"requirement": q.requirement, "hosts": q.hosts} for q in explanation.query],
        "filters": [
            {"name": f.name, "considered": f.considered, "removed": f.removed,
             "reasons": [{"reason": r, "hosts": n} for r, n in f.reasons]}
            for f in explanation.filters
        ],
        "closest_hosts": [
            {"resource_provider_uuid": h.provider_uuid, "cell": h.cell, "reasons": list(h.reasons)}
            for h in explanation.closest
        ],
        "chosen": [
            {"consumer_uuid": c.consumer_uuid, "resource_provider_uuid": c.provider_uuid,
             "weight": c.total,
             "weights": [{"weigher": d.weigher, "raw": d.raw, "normalised": d.normalised,
                          "multiplier": d.multiplier} for d in c.details]}
            for c in explanation.chosen
        ],
    }


# -- handlers -----------------------------------------------------------------------


@versioned(FIRST_VERSION)
@json_body
@json_answer
def create_selections(req: ApiRequest) -> Response:
    req.authorize(CREATE)
    data = req.json(schema.POST_SELECTIONS)
    spec = request_spec(req, data["spec"])
    try:
        result = scheduler_for(req).select_destinations(
            spec, data.get("num_instances", 1), data.get("num_alternates", 0)
        )
    except NoValidHost as failure:
        # The error format has a detail string only: the explanation is
        # written out in it (the structured one comes with a success).
        raise ApiError(409, failure.explanation.describe(), code=NO_VALID_HOST) from None
    except ConsumerExists as exc:
        raise ApiError(409, f"{exc}; remove them or claim an alternate.", code=CONSUMER_EXISTS) from None
    body = {
        "selections": [
            {"consumer_uuid": i.consumer_uuid, "hosts": [_selection(s) for s in i.selections]}
            for i in result.instances
        ],
        "explanation": _explanation(result.explanation),
        "claim_conflicts": result.stats.claim_conflicts,
    }
    return json_response(req, body)


@versioned(FIRST_VERSION)
@json_answer
def claim_alternate(req: ApiRequest) -> Response:
    req.authorize(CLAIM_ALTERNATE)
    alternate_id = req.param("alternate_id")
    try:
        selection = scheduler_for(req).claim_alternate(alternate_id)
    except AlternateNotFound as exc:
        raise ApiError(404, f"No such alternate: {exc}.", code=ALTERNATE_NOT_FOUND) from None
    except AlternateUnavailable as exc:
        raise ApiError(409, f"The alternate can no longer be claimed: {exc}", code=ALTERNATE_UNAVAILABLE) from None
    return json_response(req, _selection(selection))


@versioned(FIRST_VERSION)
@json_answer
def get_cell(req: ApiRequest) -> Response:
    req.authorize(CELL_SHOW)
    uuid = req.param("uuid")
    try:
        cell = req.store.get_provider_cell(uuid)
    except domain.ResourceProviderNotFound:
        raise ApiError(404, f"No resource provider with uuid {uuid} found") from None
    return json_response(req, {"cell": cell})


@versioned(FIRST_VERSION)
@json_body
@json_answer
def set_cell(req: ApiRequest) -> Response:
    req.authorize(CELL_UPDATE)
    data = req.json(schema.PUT_CELL)
    uuid = req.param("uuid")
    try:
        req.store.set_provider_cell(uuid, data["cell"])
    except domain.ResourceProviderNotFound:
        raise ApiError(404, f"No resource provider with uuid {uuid} found") from None
    return json_response(req, {"cell": data["cell"]})
