"""How a server must be configured for one YAML file.

Upstream's fixtures configure an in-process app (oslo.config + policy
fixtures). Here each fixture class names a ServerConfig instead, and a
launcher turns it into the target's own configuration files.
"""

from __future__ import annotations

import dataclasses

# Every policy rule that Placement 16.0.0 registers (placement/policies/),
# as "prefix" -> actions. The generic base rules come last.
_RULE_ACTIONS = {
    "placement:resource_providers": ("list", "create", "show", "update", "delete"),
    "placement:resource_classes": ("list", "create", "show", "update", "delete"),
    "placement:resource_providers:inventories": (
        "list", "create", "show", "update", "delete",
    ),
    "placement:resource_providers:aggregates": ("list", "update"),
    "placement:resource_providers:traits": ("list", "update", "delete"),
    "placement:traits": ("list", "show", "update", "delete"),
    "placement:allocations": ("manage", "list", "update", "delete"),
    "placement:allocation_candidates": ("list",),
    "placement:reshaper": ("reshape",),
}
_SINGLE_RULES = (
    "placement:resource_providers:allocations:list",
    "placement:resource_providers:usages",
    "placement:usages",
)
_BASE_RULES = (
    "admin_api",
    "service_api",
    "admin_or_service_api",
    "project_reader_api",
    "admin_or_project_reader_or_service_api",
)
# OpenPolicyFixture keeps this one: it is what "admin" means.
ADMIN_RULE = "admin_api"


def placement_rule_names() -> list[str]:
    named = [f"{prefix}:{action}" for prefix, actions in _RULE_ACTIONS.items()
             for action in actions]
    return named + list(_SINGLE_RULES) + list(_BASE_RULES)


def open_policy_rules() -> dict[str, str]:
    """Every rule but admin_api opened to anyone ("@"), as OpenPolicyFixture."""
    return {name: "@" for name in placement_rule_names() if name != ADMIN_RULE}


@dataclasses.dataclass(frozen=True)
class CorsConfig:
    allowed_origins: tuple[str, ...]
    allow_headers: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """The settings a fixture needs; the launcher writes the files."""

    enforce_new_defaults: bool = False
    policy_rules: tuple[tuple[str, str], ...] = ()  # overrides; empty: no file
    cors: CorsConfig | None = None

    def policy_dict(self) -> dict[str, str]:
        return dict(self.policy_rules)


LEGACY_RBAC = ServerConfig(enforce_new_defaults=False)
SECURE_RBAC = ServerConfig(enforce_new_defaults=True)
OPEN_POLICY = ServerConfig(policy_rules=tuple(sorted(open_policy_rules().items())))
CORS = ServerConfig(
    cors=CorsConfig(
        allowed_origins=("http://valid.example.com",),
        allow_headers=("openstack-api-version",),
    )
)
