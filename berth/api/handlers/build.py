"""berth's builds (berth/conductor/, docs/conductor.md):

    POST   /builds                                   202, Location: /builds/{id}
    GET    /builds?limit=&marker=                    {"builds": [...], "links": [...]}
    GET    /builds/{id}
    DELETE /builds/{id}/instances/{uuid}             free it, DELETED
    POST   /builds/{id}/instances/{uuid}/migrate     202; the conductor moves it
    POST   /builds/{id}/instances/{uuid}/migration/confirm
    POST   /builds/{id}/instances/{uuid}/migration/revert
    GET    /builds/assignments?host={root uuid}      what an agent is to build
    PUT    /builds/{id}/instances/{uuid}/attempts/{n} an agent's report

Served from microversion 1.39, like /selections. A build is answered
``202 Accepted``: a conductor process (``berth conductor``) does the work
and any number of them share it through the store.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
import uuid as uuidlib

from starlette.responses import Response

from berth.api.dispatch import json_answer, json_body
from berth.api.errors import ApiError
from berth.api.handlers.selection import FIRST_VERSION, request_spec
from berth.api.microversion import versioned
from berth.api.request import ApiRequest
from berth.api.responses import empty_response, json_response
from berth.api.schemas import build as schema
from berth.conductor import migrations
from berth.conductor.allocations import free
from berth.conductor.model import (
    Attempt,
    Build,
    BuildInstance,
    BuildNotFound,
    FailureKind,
    InstanceState,
    Migration,
    Outcome,
)
from berth.conductor.records import update
from berth.conductor.transitions import AttemptNotCurrent, AttemptNotFound, deleted, reported

CREATE = "berth:builds:create"
LIST = "berth:builds:list"
SHOW = "berth:builds:show"
DELETE_INSTANCE = "berth:builds:instances:delete"
MIGRATE = "berth:builds:instances:migrate"
FINISH_MIGRATION = "berth:builds:instances:migration:finish"
ASSIGNMENTS = "berth:builds:assignments:list"
REPORT = "berth:builds:attempts:update"

# berth's own error codes; never change or reuse one.
INSTANCE_EXISTS = "berth.builds.instance_exists"
ATTEMPT_NOT_CURRENT = "berth.builds.attempt_not_current"
MIGRATION_REFUSED = "berth.builds.migration_refused"


# -- to the answer ---------------------------------------------------------------------


def _when(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat().replace("+00:00", "Z")


def _attempt(attempt: Attempt) -> dict:
    return {
        "number": attempt.number,
        "host": attempt.host,
        "outcome": attempt.outcome.value,
        "reason": attempt.reason,
        "failure_kind": attempt.failure_kind.value if attempt.failure_kind else None,
        "started_at": _when(attempt.started_at),
        "finished_at": _when(attempt.finished_at),
    }


def _migration(migration: Migration | None) -> dict | None:
    if migration is None:
        return None
    return {
        "uuid": migration.uuid,
        "state": migration.state.value,
        "source_host": migration.source_host,
        "destination_host": migration.destination_host,
        "requested_at": _when(migration.requested_at),
        "reason": migration.reason,
    }


def _instance(instance: BuildInstance) -> dict:
    return {
        "uuid": instance.uuid,
        "state": instance.state.value,
        "host": instance.host,
        "cell": instance.cell,
        "attempts": [_attempt(a) for a in instance.attempts],
        "alternates": [a.host for a in instance.alternates],
        "fault": instance.fault,
        "migration": _migration(instance.migration),
    }


def _build(req: ApiRequest, build: Build) -> dict:
    return {
        "id": build.id,
        "state": build.state,
        "created_at": _when(build.created_at),
        "updated_at": _when(build.updated_at),
        "num_alternates": build.num_alternates,
        "instances": [_instance(i) for i in build.instances],
        "links": [{"rel": "self", "href": req.url(f"/builds/{build.id}")}],
    }


# -- lookups ---------------------------------------------------------------------------


def _get(req: ApiRequest, build_id: str) -> Build:
    try:
        return req.store.get_build(build_id)
    except BuildNotFound:
        raise ApiError(404, f"No build {build_id}.") from None


def _instance_of(req: ApiRequest) -> tuple[Build, BuildInstance]:
    build = _get(req, req.param("build_id"))
    uuid = req.param("instance_uuid")
    instance = build.instance(uuid)
    if instance is None:
        raise ApiError(404, f"No instance {uuid} in build {build.id}.")
    return build, instance


# -- the builds ------------------------------------------------------------------------


@versioned(FIRST_VERSION)
@json_body
@json_answer
def create_build(req: ApiRequest) -> Response:
    req.authorize(CREATE)
    data = req.json(schema.POST_BUILDS)
    spec = request_spec(req, data["request_spec"])
    count = data.get("num_instances", 1)
    if len(spec.instance_uuids) > count:
        raise ApiError(400, f"instance_uuids names {len(spec.instance_uuids)} instances, num_instances is {count}.")
    uuids = spec.consumers(count)
    for uuid in spec.instance_uuids:
        # The conductor frees what an instance it schedules holds (a claim
        # a dead conductor left): it must never be someone else's.
        if req.store.get_consumer_allocations(uuid).allocations:
            raise ApiError(409, f"Consumer {uuid} already holds allocations.", code=INSTANCE_EXISTS)
    now = time.time()
    build = Build(
        id=str(uuidlib.uuid4()),
        request_spec=dataclasses.replace(spec, instance_uuids=uuids),
        num_alternates=data.get("num_alternates", 0),
        instances=tuple(BuildInstance(u, InstanceState.SCHEDULING) for u in uuids),
        created_at=now,
        updated_at=now,
    )
    build = req.store.create_build(build)
    return json_response(req, _build(req, build), status=202, location=req.url(f"/builds/{build.id}"))


def _limit(req: ApiRequest) -> int:
    given = req.query.getlist("limit")
    if not given:
        return schema.DEFAULT_LIMIT
    if len(given) > 1 or not given[0].isdigit() or not 1 <= int(given[0]) <= schema.MAX_LIMIT:
        raise ApiError(400, f"limit must be one integer from 1 to {schema.MAX_LIMIT}.")
    return int(given[0])


@versioned(FIRST_VERSION)
@json_answer
def list_builds(req: ApiRequest) -> Response:
    req.authorize(LIST)
    limit = _limit(req)
    markers = req.query.getlist("marker")
    if len(markers) > 1:
        raise ApiError(400, "marker may be given once.")
    marker = markers[0] if markers else None
    try:
        builds = req.store.list_builds(limit, marker)
    except BuildNotFound:
        raise ApiError(400, f"Marker {marker} is not a build.") from None
    body: dict = {"builds": [_build(req, b) for b in builds], "links": []}
    if len(builds) == limit:
        body["links"].append(
            {"rel": "next", "href": req.url(f"/builds?limit={limit}&marker={builds[-1].id}")}
        )
    return json_response(req, body)


@versioned(FIRST_VERSION)
@json_answer
def get_build(req: ApiRequest) -> Response:
    req.authorize(SHOW)
    return json_response(req, _build(req, _get(req, req.param("build_id"))))


@versioned(FIRST_VERSION)
def delete_instance(req: ApiRequest) -> Response:
    """Mark the instance DELETED, then free what it holds (and what its
    migration holds). A conductor checks the release again later, so a
    process that dies between the two writes leaks nothing."""
    req.authorize(DELETE_INSTANCE)
    build, instance = _instance_of(req)
    update(req.store, build.id, deleted(instance.uuid, time.time()))
    free(req.store, instance.uuid)
    if instance.migration is not None:
        free(req.store, instance.migration.uuid)
    return empty_response(req)


# -- migrations -------------------------------------------------------------------------


@versioned(FIRST_VERSION)
@json_answer
def migrate_instance(req: ApiRequest) -> Response:
    req.authorize(MIGRATE)
    build, instance = _instance_of(req)
    try:
        saved = update(req.store, build.id, migrations.requested(instance.uuid, str(uuidlib.uuid4()), time.time()))
    except migrations.MigrationRefused as exc:
        raise ApiError(409, str(exc), code=MIGRATION_REFUSED) from None
    return json_response(req, _build(req, saved), status=202, location=req.url(f"/builds/{build.id}"))


def _finish_migration(req: ApiRequest, confirm: bool) -> Response:
    req.authorize(FINISH_MIGRATION)
    build, instance = _instance_of(req)
    try:
        update(req.store, build.id, migrations.finishing(instance.uuid, confirm, time.time()))
    except migrations.MigrationRefused as exc:
        raise ApiError(409, str(exc), code=MIGRATION_REFUSED) from None
    # Done here at once; should this process die first, a conductor does it.
    migrations.finish(req.store, build.id, instance.uuid, time.time())
    return json_response(req, _build(req, req.store.get_build(build.id)))


@versioned(FIRST_VERSION)
@json_answer
def confirm_migration(req: ApiRequest) -> Response:
    return _finish_migration(req, confirm=True)


@versioned(FIRST_VERSION)
@json_answer
def revert_migration(req: ApiRequest) -> Response:
    return _finish_migration(req, confirm=False)


# -- the agents' side ---------------------------------------------------------------------


@versioned(FIRST_VERSION)
@json_answer
def list_assignments(req: ApiRequest) -> Response:
    req.authorize(ASSIGNMENTS)
    hosts = req.query.getlist("host")
    if len(hosts) != 1 or not hosts[0]:
        raise ApiError(400, "Name one host: ?host={root provider uuid}.")
    body = {
        "assignments": [
            {
                "build_id": a.build_id,
                "instance_uuid": a.instance_uuid,
                "attempt": a.attempt,
                "allocations": {rp: {"resources": dict(res)} for rp, res in a.allocations.items()},
            }
            for a in req.store.list_assignments(hosts[0])
        ]
    }
    return json_response(req, body)


@versioned(FIRST_VERSION)
@json_body
def report_attempt(req: ApiRequest) -> Response:
    """Idempotent: the same report again is a 204 too; a report on an
    attempt that is over otherwise, or no longer current, is a 409."""
    req.authorize(REPORT)
    data = req.json(schema.PUT_ATTEMPT)
    build, instance = _instance_of(req)
    number = req.param("attempt")
    if not number.isdigit():
        raise ApiError(404, f"No attempt {number} of instance {instance.uuid}.")
    outcome = Outcome(data["outcome"])
    kind = data.get("failure_kind")
    if kind is not None and outcome is Outcome.SUCCEEDED:
        raise ApiError(400, "A build that succeeded has no failure_kind.")
    change = reported(
        instance.uuid, int(number), outcome, data.get("reason"),
        FailureKind(kind) if kind else None, time.time(),
    )
    try:
        update(req.store, build.id, change)
    except AttemptNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except AttemptNotCurrent as exc:
        raise ApiError(409, str(exc), code=ATTEMPT_NOT_CURRENT) from None
    return empty_response(req)
