"""Who is calling: credentials from the request headers.

An authenticator turns a request (its ASGI scope) into Credentials, or into
a Refusal: the answer it gives instead, in its own format. The root needs no
credentials and is never shown to an authenticator (as in Placement).

``noauth2`` (development and tests) trusts ``x-auth-token: user[:project]``
as Placement's NoAuthMiddleware does: the token ``admin`` without ``x-roles``
is an admin, ``x-roles``, ``x-project-id`` and ``openstack-system-scope`` are
honoured. ``keystone`` (keystone.py) has keystonemiddleware validate it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, MutableMapping
from typing import Any, Protocol

from starlette.datastructures import Headers

from berth.api.errors import unauthorized_body

NOAUTH2 = "noauth2"
KEYSTONE = "keystone"
# Paths that answer without credentials ('' is the mount point itself).
PUBLIC_PATHS = frozenset({"/", ""})


@dataclasses.dataclass(frozen=True, slots=True)
class Credentials:
    user_id: str | None
    project_id: str | None
    roles: tuple[str, ...] = ()
    system_scope: str | None = None
    domain_id: str | None = None

    def policy_values(self) -> dict[str, object]:
        """The credentials oslo.policy checks (as oslo.context names them)."""
        return {
            "user_id": self.user_id,
            "project_id": self.project_id,
            "roles": list(self.roles),
            "system_scope": self.system_scope,
            "domain_id": self.domain_id,
        }


ANONYMOUS = Credentials(user_id=None, project_id=None)


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    """What an authenticator answers instead of credentials, whole: status,
    headers (content type included) and body."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()


class Authenticator(Protocol):
    async def __call__(self, scope: MutableMapping[str, Any]) -> Credentials | Refusal: ...


def _roles(header: str) -> tuple[str, ...]:
    return tuple(role.strip() for role in header.split(",") if role.strip())


class NoAuth2:
    """The noauth2 authenticator; without a token, its 401 (in WebOb's own
    JSON format, as Placement's NoAuthMiddleware answers)."""

    async def __call__(self, scope: MutableMapping[str, Any]) -> Credentials | Refusal:
        credentials = noauth2_credentials(Headers(scope=scope))
        if credentials is None:
            return Refusal(401, unauthorized_body(), ((b"content-type", b"application/json"),))
        return credentials


def noauth2_credentials(headers: Mapping[str, str]) -> Credentials | None:
    """Credentials from a fake token, or None when there is no token."""
    token = headers.get("x-auth-token")
    if token is None:
        return None
    user_id, _, token_project = token.partition(":")
    if "x-roles" in headers:
        roles = _roles(headers["x-roles"])
    else:
        roles = ("admin",) if user_id == "admin" else ()
    system_scope = headers.get("openstack-system-scope") or None
    # An explicit x-project-id wins (oslo.context reads it first); a
    # system-scoped token has no project otherwise.
    project_id = headers.get("x-project-id") or headers.get("x-tenant-id")
    if not project_id and not system_scope:
        project_id = token_project or user_id
    return Credentials(
        user_id=user_id,
        project_id=project_id or None,
        roles=roles,
        system_scope=system_scope,
    )
