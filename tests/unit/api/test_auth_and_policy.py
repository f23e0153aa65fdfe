"""noauth2 credentials and the policy enforcer, without a store."""

from __future__ import annotations

import pytest

from berth.api import auth, policies
from berth.api.policy import PolicyDenied, PolicyEnforcer
from berth.config import PolicySettings


def test_noauth2_token_forms():
    assert auth.noauth2_credentials({}) is None
    admin = auth.noauth2_credentials({"x-auth-token": "admin"})
    assert (admin.user_id, admin.project_id, admin.roles) == ("admin", "admin", ("admin",))
    user = auth.noauth2_credentials({"x-auth-token": "alice:proj"})
    assert (user.user_id, user.project_id, user.roles) == ("alice", "proj", ())
    roles = auth.noauth2_credentials({"x-auth-token": "admin", "x-roles": "reader, member"})
    assert roles.roles == ("reader", "member")


def test_noauth2_project_and_system_scope():
    explicit = auth.noauth2_credentials({"x-auth-token": "u", "x-project-id": "p9"})
    assert explicit.project_id == "p9"
    system = auth.noauth2_credentials({"x-auth-token": "u", "openstack-system-scope": "all"})
    assert (system.project_id, system.system_scope) == (None, "all")


def test_every_placement_rule_is_registered():
    names = {rule.name for rule in policies.default_rules()}
    assert len([n for n in names if n.startswith("placement:")]) == 33
    assert "placement:reshaper:reshape" in names


def _allowed(enforcer, rule, headers, target=None) -> bool:
    try:
        enforcer.authorize(rule, auth.noauth2_credentials(headers), target)
        return True
    except PolicyDenied:
        return False


@pytest.mark.parametrize("legacy", [True, False])
def test_admin_and_service(legacy):
    enforcer = PolicyEnforcer(PolicySettings(enforce_new_defaults=not legacy))
    rule = "placement:resource_providers:list"
    assert _allowed(enforcer, rule, {"x-auth-token": "admin"})
    assert _allowed(enforcer, rule, {"x-auth-token": "u", "x-roles": "service"})
    assert not _allowed(enforcer, rule, {"x-auth-token": "u", "x-roles": "member"})
    reshape = "placement:reshaper:reshape"
    assert _allowed(enforcer, reshape, {"x-auth-token": "admin"}) is legacy


def test_scope_enforcement_can_be_turned_off():
    system_admin = {"x-auth-token": "u", "x-roles": "admin", "openstack-system-scope": "all"}
    rule = "placement:resource_providers:list"
    assert not _allowed(PolicyEnforcer(PolicySettings()), rule, system_admin)
    assert _allowed(PolicyEnforcer(PolicySettings(enforce_scope=False)), rule, system_admin)


def test_denial_message():
    enforcer = PolicyEnforcer(PolicySettings())
    with pytest.raises(PolicyDenied, match="Policy does not allow placement:traits:list to be performed."):
        enforcer.authorize("placement:traits:list", auth.Credentials("u", "p"))
