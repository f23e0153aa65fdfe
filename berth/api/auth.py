"""Who is calling: credentials from the request headers.

``noauth2`` (development and tests) trusts ``x-auth-token: user[:project]``
as Placement's NoAuthMiddleware does: the token ``admin`` without ``x-roles``
is an admin, ``x-roles``, ``x-project-id`` and ``openstack-system-scope`` are
honoured. ``keystone`` reads the headers keystonemiddleware sets once it has
validated the token (``x-user-id``, ``x-project-id``, ``x-roles``, ...).
The root document needs no credentials.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

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


def _roles(header: str) -> tuple[str, ...]:
    return tuple(role.strip() for role in header.split(",") if role.strip())


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


def keystone_credentials(headers: Mapping[str, str]) -> Credentials | None:
    """Credentials from the headers of a token keystonemiddleware accepted,
    or None when it found no valid token."""
    if headers.get("x-identity-status", "").lower() != "confirmed":
        return None
    user_id = headers.get("x-user-id") or headers.get("x-user")
    if not user_id:
        return None
    return Credentials(
        user_id=user_id,
        project_id=headers.get("x-project-id") or headers.get("x-tenant-id") or None,
        roles=_roles(headers.get("x-roles", "")),
        system_scope=headers.get("openstack-system-scope") or None,
        domain_id=headers.get("x-domain-id") or None,
    )
