"""A Placement client for tests, with builders for the usual data."""

from __future__ import annotations

import uuid as uuidlib
import warnings
from collections.abc import Mapping
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from berth.api.app import create_app
from berth.config import Settings
from berth.store.port import Store

LATEST = "1.39"

# A body field the builders leave out (None is sent, as JSON null).
OMIT: Any = object()


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def consumer_body(
    allocations: Mapping[str, Mapping[str, int]],
    *,
    project: str = "p",
    user: str = "u",
    generation: Any = OMIT,
    consumer_type: Any = OMIT,
    **extra: Any,
) -> dict:
    """One consumer's allocations in the dict form of 1.12 on: the body of
    PUT /allocations/{consumer}, or one consumer's entry in POST
    /allocations and POST /reshaper. ``allocations`` maps provider uuids to
    resources; ``generation`` and ``consumer_type`` are sent when given;
    ``extra`` adds other fields (``mappings=...``)."""
    body: dict[str, Any] = {
        "allocations": {rp: {"resources": dict(resources)} for rp, resources in allocations.items()},
        "project_id": project,
        "user_id": user,
    }
    if generation is not OMIT:
        body["consumer_generation"] = generation
    if consumer_type is not OMIT:
        body["consumer_type"] = consumer_type
    return {**body, **extra}


def list_form_body(allocations: Mapping[str, Mapping[str, int]], **extra: Any) -> dict:
    """The 1.0-1.11 list form of PUT /allocations/{consumer}."""
    return {
        "allocations": [
            {"resource_provider": {"uuid": rp}, "resources": dict(resources)}
            for rp, resources in allocations.items()
        ],
        **extra,
    }


class ApiClient:
    """Requests default to ``x-auth-token: admin`` at the newest version;
    ``version=None`` sends no version header (1.0), ``token=None`` none."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    @classmethod
    def for_app(cls, settings: Settings, store: Store) -> ApiClient:
        return cls(TestClient(create_app(settings, store), raise_server_exceptions=False))

    def close(self) -> None:
        self.client.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        version: str | None = LATEST,
        token: str | None = "admin",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ):
        sent = {}
        if token is not None:
            sent["x-auth-token"] = token
        if version is not None:
            sent["openstack-api-version"] = f"placement {version}"
        sent.update(headers or {})
        if body is not None:
            kwargs["json"] = body
        return self.client.request(method, path, headers=sent, **kwargs)

    def get(self, path: str, **kwargs: Any):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any):
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any):
        return self.request("PUT", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.request("DELETE", path, **kwargs)

    # -- builders ------------------------------------------------------------

    def create_provider(self, name: str | None = None, parent: str | None = None) -> dict:
        body: dict[str, Any] = {"name": name or f"rp-{new_uuid()[:8]}", "uuid": new_uuid()}
        if parent:
            body["parent_provider_uuid"] = parent
        response = self.post("/resource_providers", body)
        assert response.status_code == 200, response.text
        return response.json()

    def generation(self, provider_uuid: str) -> int:
        return self.get(f"/resource_providers/{provider_uuid}").json()["generation"]

    def set_inventory(self, provider_uuid: str, **totals: int | dict) -> dict:
        inventories = {
            rc: value if isinstance(value, dict) else {"total": value}
            for rc, value in totals.items()
        }
        response = self.put(
            f"/resource_providers/{provider_uuid}/inventories",
            {"resource_provider_generation": self.generation(provider_uuid),
             "inventories": inventories},
        )
        assert response.status_code == 200, response.text
        return response.json()

    def allocate(
        self,
        consumer: str,
        allocations: dict[str, dict[str, int]],
        *,
        project: str = "project-a",
        user: str = "user-a",
        consumer_type: str = "INSTANCE",
    ):
        """Replace ``consumer``'s allocations at the newest version."""
        current = self.get(f"/allocations/{consumer}").json()
        body = consumer_body(
            allocations, project=project, user=user,
            generation=current.get("consumer_generation"), consumer_type=consumer_type,
        )
        return self.put(f"/allocations/{consumer}", body)

    def set_traits(self, provider_uuid: str, *traits: str) -> None:
        for trait in traits:
            if trait.startswith("CUSTOM_"):
                self.put(f"/traits/{trait}")
        response = self.put(
            f"/resource_providers/{provider_uuid}/traits",
            {"traits": list(traits), "resource_provider_generation": self.generation(provider_uuid)},
        )
        assert response.status_code == 200, response.text

    def set_aggregates(self, provider_uuid: str, *aggregates: str) -> None:
        response = self.put(
            f"/resource_providers/{provider_uuid}/aggregates",
            {"aggregates": list(aggregates),
             "resource_provider_generation": self.generation(provider_uuid)},
        )
        assert response.status_code == 200, response.text


def error_of(response) -> dict:
    """The one error of an error answer."""
    errors = response.json()["errors"]
    assert len(errors) == 1
    return errors[0]
