"""Create fixture data through a server's public HTTP API.

Upstream's data fixtures write straight into the database with Placement's
objects. Over HTTP the same end state needs a few rules (notes section 5):
aggregates are set at microversion 1.18 (a bare list, no generation bump),
each inventory class is one POST (max_unit defaults to total), custom traits
and classes are created first, and allocations are one PUT at 1.28 with
consumer_generation null and no consumer_type.
"""

from __future__ import annotations

import uuid

import httpx

ADMIN_HEADERS = {"x-auth-token": "admin", "accept": "application/json"}


class SeedingError(RuntimeError):
    """The server refused a request that a data fixture needs."""


def new_uuid() -> str:
    return str(uuid.uuid4())


class PlacementSeeder:
    """A small admin client for the handful of writes the fixtures need."""

    def __init__(self, base_url: str):
        self.client = httpx.Client(base_url=base_url, headers=ADMIN_HEADERS,
                                   timeout=30.0)

    def close(self) -> None:
        self.client.close()

    def create_provider(self, name: str, *aggregates: str, parent: str | None = None,
                        provider_uuid: str | None = None) -> str:
        body = {"name": name, "uuid": provider_uuid or new_uuid()}
        if parent:
            body["parent_provider_uuid"] = parent
        self._call("POST", "/resource_providers", "1.20", body)
        if aggregates:
            self.set_aggregates(body["uuid"], *aggregates)
        return body["uuid"]

    def set_aggregates(self, provider: str, *aggregates: str) -> None:
        # 1.18: a bare list, which does not bump the provider generation,
        # like upstream's fixtures.
        self._call("PUT", f"/resource_providers/{provider}/aggregates", "1.18",
                   list(aggregates))

    def add_inventory(self, provider: str, resource_class: str, total: int,
                      **fields: int | float) -> None:
        if resource_class.startswith("CUSTOM_"):
            self.ensure_resource_class(resource_class)
        body = {"resource_class": resource_class, "total": total,
                "max_unit": total, **fields,
                "resource_provider_generation": self.generation(provider)}
        self._call("POST", f"/resource_providers/{provider}/inventories", "1.20", body)

    def set_traits(self, provider: str, *traits: str) -> None:
        for trait in traits:
            if trait.startswith("CUSTOM_"):
                self._call("PUT", f"/traits/{trait}", "1.6")
        body = {"traits": list(traits),
                "resource_provider_generation": self.generation(provider)}
        self._call("PUT", f"/resource_providers/{provider}/traits", "1.6", body)

    def ensure_resource_class(self, name: str) -> None:
        self._call("PUT", f"/resource_classes/{name}", "1.7")

    def allocate(self, provider: str, resources: dict[str, int], *, user_id: str,
                 project_id: str, consumer: str | None = None) -> str:
        """Give a new consumer (by default) these resources on provider."""
        consumer = consumer or new_uuid()
        body = {"allocations": {provider: {"resources": resources}},
                "project_id": project_id, "user_id": user_id,
                "consumer_generation": None}
        self._call("PUT", f"/allocations/{consumer}", "1.28", body)
        return consumer

    def generation(self, provider: str) -> int:
        response = self._call("GET", f"/resource_providers/{provider}", "1.14")
        return response.json()["generation"]

    def _call(self, method: str, path: str, microversion: str,
              body: object = None) -> httpx.Response:
        headers = {"openstack-api-version": f"placement {microversion}"}
        response = self.client.request(method, path, headers=headers,
                                       json=body if body is not None else None)
        if response.status_code >= 400:
            raise SeedingError(
                f"{method} {path} at {microversion} -> {response.status_code}: "
                f"{response.text[:500]}")
        return response
