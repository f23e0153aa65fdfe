"""What a handler receives: one request, already authenticated and
version-negotiated, with the store and the helpers every handler needs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from starlette.datastructures import Headers, QueryParams

from berth.api import microversion
from berth.api.auth import Credentials
from berth.api.errors import ApiError
from berth.api.policy import PolicyDenied, PolicyEnforcer
from berth.api.schemas import validation
from berth.config import Settings
from berth.placement.candidates.finder import CandidateFinder
from berth.store.port import Store


@lru_cache(maxsize=64)
def _version(text: str) -> microversion.Version:
    return microversion.parse(text)


@dataclasses.dataclass(frozen=True, slots=True)
class ApiRequest:
    version: microversion.Version
    method: str
    path_params: Mapping[str, str]
    query: QueryParams
    headers: Headers
    body: bytes
    credentials: Credentials
    store: Store
    settings: Settings
    enforcer: PolicyEnforcer
    # The mount point, prefixed to every URL the API hands out.
    url_prefix: str = ""
    # scheme://host[:port] of the request, for absolute Location headers.
    host_url: str = ""
    # The app's one allocation-candidates finder (it keeps a read-side
    # index, so it lives as long as the app).
    candidates: CandidateFinder | None = None

    def wants(self, version: str) -> bool:
        """True when the request's microversion is at least ``version``."""
        return self.version >= _version(version)

    def param(self, name: str) -> str:
        return self.path_params[name]

    def authorize(self, rule: str, target: Mapping[str, object] | None = None) -> None:
        try:
            self.enforcer.authorize(rule, self.credentials, target)
        except PolicyDenied as exc:
            # Placement raises this outside its handlers: no vary header.
            raise ApiError(403, str(exc), vary=False) from None

    def json(self, schema: Mapping[str, Any]) -> Any:
        """The body, parsed and validated against ``schema`` (400 if not)."""
        return validation.extract_json(self.body, schema)

    def url(self, path: str) -> str:
        return f"{self.url_prefix}{path}"

    def absolute_url(self, url: str) -> str:
        """``url`` with scheme and host (Placement's WebOb makes every
        Location header absolute this way)."""
        return url if "://" in url else f"{self.host_url}{url}"
