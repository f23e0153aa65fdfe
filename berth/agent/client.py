"""The agent's HTTP client for berth: Placement's provider routes, berth's
cell route and the build assignment routes, at microversion 1.39.

Answers are turned into small typed objects and berth's refusals into the
exceptions below here, so nothing above this module reads a status code.
A request berth did not answer (connection refused, timeout, 502-504) is
tried again with exponential backoff until it is answered or the agent
stops; every request the agent sends is safe to repeat (writes carry a
generation or are idempotent), so a lost answer costs at most a conflict.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

import httpx

from berth.agent.config import BerthConnection
from berth.agent.driver import BuildRequest, BuildResult

MICROVERSION = "placement 1.39"
CONCURRENT_UPDATE = "placement.concurrent_update"
# Answers that mean "berth is not there right now", not "berth said no".
_UNAVAILABLE = frozenset({502, 503, 504})

log = logging.getLogger(__name__)

T = TypeVar("T")


class BerthError(Exception):
    """Base of what the client raises."""


class BerthUnavailable(BerthError):
    """Berth did not answer and the agent is stopping."""


class Refused(BerthError):
    """Berth answered with an error."""

    def __init__(self, status: int, code: str | None, detail: str) -> None:
        super().__init__(f"{status} {code or ''}: {detail}".strip())
        self.status = status
        self.code = code
        self.detail = detail


class NotFound(Refused):
    """404: no such provider (or no such route on an older berth)."""


class Conflict(Refused):
    """409 for another reason than a moved generation."""


class ConcurrentUpdate(Conflict):
    """409 placement.concurrent_update: the generation written against moved."""


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderRecord:
    uuid: str
    name: str
    generation: int
    parent_uuid: str | None
    root_uuid: str


@dataclasses.dataclass(frozen=True, slots=True)
class Generational(Generic[T]):
    """Something read from a provider with the generation it was read at."""

    generation: int
    value: T


class BerthClient:
    def __init__(
        self,
        connection: BerthConnection,
        *,
        stop: threading.Event | None = None,
        max_backoff: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._stop = stop or threading.Event()
        self._max_backoff = max_backoff
        self._http = httpx.Client(
            base_url=connection.url.rstrip("/"),
            headers={"OpenStack-API-Version": MICROVERSION, "x-auth-token": connection.token},
            timeout=connection.timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    # -- providers ----------------------------------------------------------

    def get_provider(self, uuid: str) -> ProviderRecord | None:
        try:
            return _provider(self._json("GET", f"/resource_providers/{uuid}"))
        except NotFound:
            return None

    def list_tree(self, root_uuid: str) -> list[ProviderRecord]:
        body = self._json("GET", "/resource_providers", params={"in_tree": root_uuid})
        return [_provider(entry) for entry in body["resource_providers"]]

    def create_provider(self, uuid: str, name: str, parent_uuid: str | None) -> ProviderRecord:
        body: dict[str, Any] = {"uuid": uuid, "name": name}
        if parent_uuid:
            body["parent_provider_uuid"] = parent_uuid
        return _provider(self._json("POST", "/resource_providers", json=body))

    def delete_provider(self, uuid: str) -> None:
        self._send("DELETE", f"/resource_providers/{uuid}")

    def get_inventories(self, uuid: str) -> Generational[dict[str, dict]]:
        body = self._json("GET", f"/resource_providers/{uuid}/inventories")
        return Generational(body["resource_provider_generation"], body["inventories"])

    def put_inventories(self, uuid: str, generation: int, inventories: Mapping[str, dict]) -> int:
        body = self._json("PUT", f"/resource_providers/{uuid}/inventories", json={
            "resource_provider_generation": generation, "inventories": dict(inventories),
        })
        return body["resource_provider_generation"]

    def get_traits(self, uuid: str) -> Generational[frozenset[str]]:
        body = self._json("GET", f"/resource_providers/{uuid}/traits")
        return Generational(body["resource_provider_generation"], frozenset(body["traits"]))

    def put_traits(self, uuid: str, generation: int, traits: Iterable[str]) -> int:
        body = self._json("PUT", f"/resource_providers/{uuid}/traits", json={
            "resource_provider_generation": generation, "traits": sorted(traits),
        })
        return body["resource_provider_generation"]

    def get_aggregates(self, uuid: str) -> Generational[frozenset[str]]:
        body = self._json("GET", f"/resource_providers/{uuid}/aggregates")
        return Generational(body["resource_provider_generation"], frozenset(body["aggregates"]))

    def put_aggregates(self, uuid: str, generation: int, aggregates: Iterable[str]) -> int:
        body = self._json("PUT", f"/resource_providers/{uuid}/aggregates", json={
            "resource_provider_generation": generation, "aggregates": sorted(aggregates),
        })
        return body["resource_provider_generation"]

    def get_cell(self, uuid: str) -> str | None:
        return self._json("GET", f"/resource_providers/{uuid}/cell")["cell"]

    def put_cell(self, uuid: str, cell: str | None) -> None:
        self._json("PUT", f"/resource_providers/{uuid}/cell", json={"cell": cell})

    def ensure_trait(self, name: str) -> None:
        self._send("PUT", f"/traits/{name}")

    def ensure_resource_class(self, name: str) -> None:
        self._send("PUT", f"/resource_classes/{name}")

    # -- builds ---------------------------------------------------------------

    def get_assignments(self, host_uuid: str) -> list[BuildRequest]:
        body = self._json("GET", "/builds/assignments", params={"host": host_uuid})
        return [_build_request(entry) for entry in body["assignments"]]

    def report(self, request: BuildRequest, result: BuildResult) -> None:
        """Raises Conflict (or NotFound) when the attempt is no longer current.

        A 409 concurrent_update is not that: berth lost the race for the
        build record to its other writers (the conductor, other agents'
        reports) too many times in a row. The report is sent again, with
        backoff, until berth takes it or the agent stops; dropping it would
        leave the attempt building until its deadline."""
        path = f"/builds/{request.build_id}/instances/{request.instance_uuid}/attempts/{request.attempt}"
        self._send("PUT", path, again_on_lost_race=True, json={
            "outcome": result.outcome.value,
            "reason": result.reason,
            "failure_kind": result.failure_kind.value if result.failure_kind else None,
        })

    # -- the wire ----------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> dict:
        return self._send(method, path, **kwargs).json()

    def _send(self, method: str, path: str, *, again_on_lost_race: bool = False, **kwargs: Any) -> httpx.Response:
        """The answer, once berth gives one; ``again_on_lost_race`` also
        sends the request again after a 409 concurrent_update (only for
        writes that name no generation, where it means "try again", not
        "read again")."""
        backoff = 0.05
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                lost_race = again_on_lost_race and _error_of(response)[0] == CONCURRENT_UPDATE
                if response.status_code not in _UNAVAILABLE and not lost_race:
                    return _checked(response)
                problem = f"{response.status_code} {response.text[:200]}"
            log.warning("berth did not answer %s %s (%s); again in %.2fs", method, path, problem, backoff)
            if self._stop.wait(backoff):
                raise BerthUnavailable(f"{method} {path}: {problem}")
            backoff = min(backoff * 2, self._max_backoff)


def _error_of(response: httpx.Response) -> tuple[str | None, str]:
    """The error code and detail of an answer in the API's error format
    (no code for a success or another body)."""
    if response.status_code < 400:
        return None, ""
    try:
        error = response.json()["errors"][0]
        return error.get("code"), error.get("detail", response.text)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None, response.text


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code < 400:
        return response
    code, detail = _error_of(response)
    status = response.status_code
    if status == 404:
        raise NotFound(status, code, detail)
    if status == 409:
        raise (ConcurrentUpdate if code == CONCURRENT_UPDATE else Conflict)(status, code, detail)
    raise Refused(status, code, detail)


def _provider(body: Mapping[str, Any]) -> ProviderRecord:
    return ProviderRecord(
        body["uuid"], body["name"], body["generation"],
        body.get("parent_provider_uuid"), body.get("root_provider_uuid", body["uuid"]),
    )


def _build_request(entry: Mapping[str, Any]) -> BuildRequest:
    return BuildRequest(
        build_id=str(entry["build_id"]),
        instance_uuid=entry["instance_uuid"],
        attempt=int(entry["attempt"]),
        allocations={
            rp: dict(body["resources"]) for rp, body in entry.get("allocations", {}).items()
        },
    )
