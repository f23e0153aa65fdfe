"""auth_strategy "keystone": tokens validated against Keystone's v3 API.

Placement uses keystonemiddleware (a WSGI filter configured through
oslo.config, which needs service credentials). berth is ASGI and
``settings.api`` names only Keystone's URL, so it validates a token the way
Keystone allows any token holder to: ``GET /v3/auth/tokens`` with the token
as both ``X-Auth-Token`` and ``X-Subject-Token``. A valid token is cached
until it expires, at most CACHE_SECONDS; an invalid one gets 401 in
keystonemiddleware's format, an unreachable Keystone 503.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from berth.api.auth import Credentials

CACHE_SECONDS = 300.0
CACHE_LIMIT = 10_000


class KeystoneUnavailable(Exception):
    """Keystone did not answer, or answered something unexpected."""


def credentials_from_token(token: Mapping[str, Any]) -> Credentials:
    """Credentials from the ``token`` object of a v3 validation answer."""
    system = token.get("system") or {}
    return Credentials(
        user_id=(token.get("user") or {}).get("id"),
        project_id=(token.get("project") or {}).get("id"),
        roles=tuple(role["name"] for role in token.get("roles") or ()),
        system_scope="all" if system.get("all") else None,
        domain_id=(token.get("domain") or {}).get("id"),
    )


def _expiry(token: Mapping[str, Any], now: float) -> float:
    expires_at = token.get("expires_at")
    limit = now + CACHE_SECONDS
    if not expires_at:
        return limit
    moment = datetime.datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    return min(limit, moment.timestamp())


class KeystoneAuthenticator:
    def __init__(self, keystone_url: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not keystone_url:
            raise ValueError('auth_strategy "keystone" needs api.keystone_url')
        self.keystone_url = keystone_url.rstrip("/")
        self.client = httpx.AsyncClient(transport=transport, timeout=10.0)
        self.cache: dict[str, tuple[float, Credentials]] = {}

    async def __call__(self, headers: Mapping[str, str]) -> Credentials | None:
        token = headers.get("x-auth-token")
        if not token:
            return None
        now = time.monotonic()
        cached = self.cache.get(token)
        if cached and cached[0] > now:
            return cached[1]
        validated = await self._validate(token)
        if validated is None:
            return None
        if len(self.cache) >= CACHE_LIMIT:
            self.cache = {k: v for k, v in self.cache.items() if v[0] > now}
        # Keystone's expiry is wall-clock time; the cache runs on monotonic.
        expires = _expiry(validated, time.time()) + (now - time.time())
        credentials = credentials_from_token(validated)
        self.cache[token] = (expires, credentials)
        return credentials

    async def _validate(self, token: str) -> Mapping[str, Any] | None:
        try:
            response = await self.client.get(
                f"{self.keystone_url}/v3/auth/tokens",
                headers={"X-Auth-Token": token, "X-Subject-Token": token},
            )
        except httpx.HTTPError as exc:
            raise KeystoneUnavailable(str(exc)) from exc
        if response.status_code in (401, 403, 404):
            return None
        if response.status_code != 200:
            raise KeystoneUnavailable(f"token validation answered {response.status_code}")
        return response.json()["token"]

    def unauthorized(self) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """keystonemiddleware's 401."""
        body = orjson.dumps({"error": {
            "code": 401, "title": "Unauthorized",
            "message": "The request you have made requires authentication.",
        }})
        challenge = f'Keystone uri="{self.keystone_url}"'.encode()
        return body, [(b"www-authenticate", challenge)]
