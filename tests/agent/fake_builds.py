"""An in-test stand-in for berth's two build routes the agent uses, in front
of a real berth: ``GET /builds/assignments`` and ``PUT
/builds/{id}/instances/{uuid}/attempts/{n}`` are answered here, every other
request goes to the server. The tests of the loop against the conductor
itself are part A's end-to-end tests."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import uuid as uuidlib

import httpx

_REPORT = re.compile(r"^/builds/(?P<build>[^/]+)/instances/(?P<instance>[^/]+)/attempts/(?P<attempt>\d+)$")


@dataclasses.dataclass(frozen=True)
class Report:
    build_id: str
    instance_uuid: str
    attempt: int
    body: dict


@dataclasses.dataclass
class FakeBuilds:
    # host uuid -> the assignments listed for it, until reported.
    assigned: dict[str, list[dict]] = dataclasses.field(default_factory=dict)
    reports: list[Report] = dataclasses.field(default_factory=list)
    # Report tries that got a 409 (the attempt is no longer current).
    refused: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    # (instance, attempt) answered 409 as no longer current.
    superseded: set[tuple[str, int]] = dataclasses.field(default_factory=set)
    # The next this many report tries fail as if berth were unreachable.
    unreachable_reports: int = 0
    # The next this many assignment reads fail the same way.
    unreachable_polls: int = 0
    polls: int = 0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def assign(self, host_uuid: str, *, attempt: int = 1, instance_uuid: str | None = None,
               allocations: dict | None = None) -> dict:
        entry = {
            "build_id": str(uuidlib.uuid4()),
            "instance_uuid": instance_uuid or str(uuidlib.uuid4()),
            "attempt": attempt,
            "allocations": allocations or {host_uuid: {"resources": {"VCPU": 1}}},
        }
        with self.lock:
            self.assigned.setdefault(host_uuid, []).append(entry)
        return entry

    def reported(self) -> dict[tuple[str, int], dict]:
        with self.lock:
            return {(r.instance_uuid, r.attempt): r.body for r in self.reports}

    def answer(self, request: httpx.Request) -> httpx.Response | None:
        """The answer to a build route, or None for any other request."""
        path = request.url.path
        if request.method == "GET" and path == "/builds/assignments":
            return self._assignments(request)
        match = _REPORT.match(path)
        if request.method == "PUT" and match:
            return self._report(request, match)
        return None

    def _assignments(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.polls += 1
            if self.unreachable_polls:
                self.unreachable_polls -= 1
                raise httpx.ConnectError("connection refused", request=request)
            listed = list(self.assigned.get(request.url.params["host"], []))
        return httpx.Response(200, json={"assignments": listed})

    def _report(self, request: httpx.Request, match: re.Match) -> httpx.Response:
        key = (match["instance"], int(match["attempt"]))
        with self.lock:
            if self.unreachable_reports:
                self.unreachable_reports -= 1
                raise httpx.ConnectError("connection refused", request=request)
            current = any(
                (e["instance_uuid"], e["attempt"]) == key and e["build_id"] == match["build"]
                for entries in self.assigned.values() for e in entries
            )
            if not current or key in self.superseded:
                self.refused.append(key)
                return httpx.Response(409, json={"errors": [{
                    "status": 409, "title": "Conflict", "code": "berth.builds.attempt_not_current",
                    "detail": "not the current attempt",
                }]})
            self.reports.append(Report(match["build"], key[0], key[1], json.loads(request.content)))
            for entries in self.assigned.values():
                entries[:] = [e for e in entries if (e["instance_uuid"], e["attempt"]) != key]
        return httpx.Response(200, json={})


class BuildRoutesTransport(httpx.HTTPTransport):
    def __init__(self, builds: FakeBuilds) -> None:
        super().__init__()
        self.builds = builds

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.builds.answer(request)
        if answer is not None:
            answer.request = request
            return answer
        return super().handle_request(request)
