"""Placement's policy rules: names, default check strings and scopes.

The rule names are Placement's, so operators' policy files keep working.
New defaults: admin or service for everything, project readers for their own
usages, service only for the reshaper. Each base rule also carries Placement's
deprecated ``role:admin`` check, which oslo.policy ORs in when
``enforce_new_defaults`` is off (the legacy defaults).
"""

from __future__ import annotations

from oslo_policy import policy

ADMIN_OR_SERVICE = "rule:admin_or_service_api"
SERVICE = "rule:service_api"
ADMIN_OR_PROJECT_READER_OR_SERVICE = "rule:admin_or_project_reader_or_service_api"

_LEGACY_ADMIN = policy.DeprecatedRule(
    name="rule:admin_api",
    check_str="role:admin",
    deprecated_reason="Placement's legacy default: admin only.",
    deprecated_since="W",
)

_RP = "/resource_providers/{uuid}"
_INVENTORY = _RP + "/inventories"
_ONE_INVENTORY = _INVENTORY + "/{resource_class}"
_BUILD = "/builds/{build_id}"
_BUILD_INSTANCE = _BUILD + "/instances/{instance_uuid}"

# Rule name -> (default check string, method, path) for every operation.
OPERATIONS: dict[str, tuple[str, str, str]] = {
    "placement:resource_providers:list": (ADMIN_OR_SERVICE, "GET", "/resource_providers"),
    "placement:resource_providers:create": (ADMIN_OR_SERVICE, "POST", "/resource_providers"),
    "placement:resource_providers:show": (ADMIN_OR_SERVICE, "GET", _RP),
    "placement:resource_providers:update": (ADMIN_OR_SERVICE, "PUT", _RP),
    "placement:resource_providers:delete": (ADMIN_OR_SERVICE, "DELETE", _RP),
    "placement:resource_classes:list": (ADMIN_OR_SERVICE, "GET", "/resource_classes"),
    "placement:resource_classes:create": (ADMIN_OR_SERVICE, "POST", "/resource_classes"),
    "placement:resource_classes:show": (ADMIN_OR_SERVICE, "GET", "/resource_classes/{name}"),
    "placement:resource_classes:update": (ADMIN_OR_SERVICE, "PUT", "/resource_classes/{name}"),
    "placement:resource_classes:delete": (ADMIN_OR_SERVICE, "DELETE", "/resource_classes/{name}"),
    "placement:resource_providers:inventories:list": (ADMIN_OR_SERVICE, "GET", _INVENTORY),
    "placement:resource_providers:inventories:create": (ADMIN_OR_SERVICE, "POST", _INVENTORY),
    "placement:resource_providers:inventories:show": (ADMIN_OR_SERVICE, "GET", _ONE_INVENTORY),
    # update and delete cover both the collection and one class.
    "placement:resource_providers:inventories:update": (ADMIN_OR_SERVICE, "PUT", _INVENTORY),
    "placement:resource_providers:inventories:delete": (ADMIN_OR_SERVICE, "DELETE", _INVENTORY),
    "placement:resource_providers:aggregates:list": (ADMIN_OR_SERVICE, "GET", _RP + "/aggregates"),
    "placement:resource_providers:aggregates:update": (ADMIN_OR_SERVICE, "PUT", _RP + "/aggregates"),
    "placement:resource_providers:usages": (ADMIN_OR_SERVICE, "GET", _RP + "/usages"),
    "placement:usages": (ADMIN_OR_PROJECT_READER_OR_SERVICE, "GET", "/usages"),
    "placement:traits:list": (ADMIN_OR_SERVICE, "GET", "/traits"),
    "placement:traits:show": (ADMIN_OR_SERVICE, "GET", "/traits/{name}"),
    "placement:traits:update": (ADMIN_OR_SERVICE, "PUT", "/traits/{name}"),
    "placement:traits:delete": (ADMIN_OR_SERVICE, "DELETE", "/traits/{name}"),
    "placement:resource_providers:traits:list": (ADMIN_OR_SERVICE, "GET", _RP + "/traits"),
    "placement:resource_providers:traits:update": (ADMIN_OR_SERVICE, "PUT", _RP + "/traits"),
    "placement:resource_providers:traits:delete": (ADMIN_OR_SERVICE, "DELETE", _RP + "/traits"),
    "placement:allocations:manage": (ADMIN_OR_SERVICE, "POST", "/allocations"),
    "placement:allocations:list": (ADMIN_OR_SERVICE, "GET", "/allocations/{consumer_uuid}"),
    "placement:allocations:update": (ADMIN_OR_SERVICE, "PUT", "/allocations/{consumer_uuid}"),
    "placement:allocations:delete": (ADMIN_OR_SERVICE, "DELETE", "/allocations/{consumer_uuid}"),
    "placement:resource_providers:allocations:list": (ADMIN_OR_SERVICE, "GET", _RP + "/allocations"),
    "placement:allocation_candidates:list": (ADMIN_OR_SERVICE, "GET", "/allocation_candidates"),
    "placement:reshaper:reshape": (SERVICE, "POST", "/reshaper"),
}


# berth's own operations (berth/api/handlers/selection.py): not Placement's
# rules, so kept apart from OPERATIONS; admin or service, like Placement's.
BERTH_OPERATIONS: dict[str, tuple[str, str, str]] = {
    "berth:selections:create": (ADMIN_OR_SERVICE, "POST", "/selections"),
    "berth:selections:alternates:claim": (
        ADMIN_OR_SERVICE, "POST", "/selections/alternates/{alternate_id}/claim",
    ),
    "berth:resource_providers:cell:show": (ADMIN_OR_SERVICE, "GET", _RP + "/cell"),
    "berth:resource_providers:cell:update": (ADMIN_OR_SERVICE, "PUT", _RP + "/cell"),
    # Builds (berth/api/handlers/build.py); agents report with a service role.
    "berth:builds:create": (ADMIN_OR_SERVICE, "POST", "/builds"),
    "berth:builds:list": (ADMIN_OR_SERVICE, "GET", "/builds"),
    "berth:builds:show": (ADMIN_OR_SERVICE, "GET", _BUILD),
    "berth:builds:instances:delete": (ADMIN_OR_SERVICE, "DELETE", _BUILD_INSTANCE),
    "berth:builds:instances:migrate": (ADMIN_OR_SERVICE, "POST", _BUILD_INSTANCE + "/migrate"),
    "berth:builds:instances:migration:finish": (
        ADMIN_OR_SERVICE, "POST", _BUILD_INSTANCE + "/migration/{confirm|revert}",
    ),
    "berth:builds:assignments:list": (ADMIN_OR_SERVICE, "GET", "/builds/assignments"),
    "berth:builds:attempts:update": (ADMIN_OR_SERVICE, "PUT", _BUILD_INSTANCE + "/attempts/{attempt}"),
}


def _base_rules(scope_types: list[str] | None) -> list[policy.RuleDefault]:
    return [
        policy.RuleDefault("admin_api", "role:admin", scope_types=scope_types),
        policy.RuleDefault(
            "service_api", "role:service",
            scope_types=scope_types, deprecated_rule=_LEGACY_ADMIN,
        ),
        policy.RuleDefault(
            "admin_or_service_api", "role:admin or role:service",
            scope_types=scope_types, deprecated_rule=_LEGACY_ADMIN,
        ),
        policy.RuleDefault(
            "project_reader_api", "role:reader and project_id:%(project_id)s",
            deprecated_rule=_LEGACY_ADMIN,
        ),
        policy.RuleDefault(
            "admin_or_project_reader_or_service_api",
            "role:admin or rule:project_reader_api or role:service",
            scope_types=scope_types, deprecated_rule=_LEGACY_ADMIN,
        ),
    ]


def default_rules(enforce_scope: bool = True) -> list[policy.RuleDefault]:
    """Every rule, project-scoped unless scope enforcement is off."""
    scope_types = ["project"] if enforce_scope else None
    operations = [
        policy.DocumentedRuleDefault(
            name, check_str, f"{method} {path}",
            [{"method": method, "path": path}],
            scope_types=scope_types,
        )
        for name, (check_str, method, path) in {**OPERATIONS, **BERTH_OPERATIONS}.items()
    ]
    return _base_rules(scope_types) + operations
