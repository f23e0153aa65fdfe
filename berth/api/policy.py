"""Policy enforcement with oslo.policy over Placement's rules.

One ``PolicyEnforcer`` per app, built from ``settings.policy``: the defaults
of ``policies.py``, legacy or new, overridden by the rules of a YAML or JSON
policy file (re-read when it changes, as oslo.policy does).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from oslo_config import cfg
from oslo_policy import policy

from berth.api import policies
from berth.api.auth import Credentials
from berth.config import PolicySettings

# Without a configured file oslo.policy still looks for one: give it a path
# that cannot exist, so a stray policy.yaml is never picked up.
NO_POLICY_FILE = "/nonexistent/berth/policy.yaml"


class PolicyDenied(Exception):
    """The caller may not perform ``rule`` (answered 403)."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        super().__init__(f"Policy does not allow {rule} to be performed.")


class PolicyEnforcer:
    def __init__(self, settings: PolicySettings) -> None:
        if settings.file and not os.path.exists(settings.file):
            raise FileNotFoundError(f"policy file not found: {settings.file}")
        # A private ConfigOpts: oslo.policy reads its options from one, and
        # berth's settings must not leak into (or from) the global CONF.
        conf = cfg.ConfigOpts()
        conf([], project="berth", default_config_files=[], default_config_dirs=[])
        self._enforcer = policy.Enforcer(
            conf,
            policy_file=os.path.abspath(settings.file) if settings.file else NO_POLICY_FILE,
            use_conf=True,
        )
        # The Enforcer registers the [oslo_policy] options; then set ours.
        conf.set_override("enforce_new_defaults", settings.enforce_new_defaults, "oslo_policy")
        conf.set_override("policy_dirs", [], "oslo_policy")
        # Placement silences these too: every default changed at once.
        self._enforcer.suppress_default_change_warnings = True
        self._enforcer.suppress_deprecation_warnings = True
        self._enforcer.register_defaults(policies.default_rules(settings.enforce_scope))
        self._enforcer.load_rules()

    def authorize(
        self,
        rule: str,
        credentials: Credentials,
        target: Mapping[str, object] | None = None,
    ) -> None:
        """Raise PolicyDenied unless ``credentials`` may perform ``rule``."""
        if target is None:
            target = {"project_id": credentials.project_id, "user_id": credentials.user_id}
        try:
            self._enforcer.authorize(
                rule, dict(target), credentials.policy_values(),
                True, PolicyDenied, rule,
            )
        except policy.InvalidScope:
            raise PolicyDenied(rule) from None
