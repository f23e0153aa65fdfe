"""Settings: defaults, TOML file, BERTH_* variables, in that order."""

from __future__ import annotations

import re

import pytest

from berth.config import SettingsError, load_settings


def test_defaults():
    settings = load_settings(environ={})
    assert settings.api.auth_strategy == "noauth2"
    assert settings.policy.enforce_new_defaults is True
    assert settings.database.url.startswith("sqlite:///")
    assert settings.cors.allowed_origins == ()


def test_file_then_environment(tmp_path):
    config = tmp_path / "berth.toml"
    config.write_text(
        '[policy]\nenforce_new_defaults = false\n'
        '[cors]\nallowed_origins = ["http://a.example"]\n'
        '[database]\nurl = "sqlite:////tmp/file.db"\n'
    )
    settings = load_settings(config, environ={"BERTH_DATABASE_URL": "postgresql://h/db"})
    assert settings.policy.enforce_new_defaults is False
    assert settings.cors.allowed_origins == ("http://a.example",)
    assert settings.database.url == "postgresql://h/db"


def test_environment_lists_and_booleans():
    settings = load_settings(
        environ={"BERTH_CORS_ALLOW_HEADERS": "a, b", "BERTH_POLICY_ENFORCE_SCOPE": "no"}
    )
    assert settings.cors.allow_headers == ("a", "b")
    assert settings.policy.enforce_scope is False


@pytest.mark.parametrize(
    "text, message",
    [
        ("[nope]\nx = 1\n", "unknown configuration sections"),
        ("[policy]\ncolour = 'red'\n", "unknown settings in [policy]"),
        ("[policy]\nenforce_scope = 'maybe'\n", "expected a boolean"),
        ("[cors]\nmax_age = 'soon'\n", "expected an integer"),
    ],
)
def test_bad_configuration_is_refused(tmp_path, text, message):
    config = tmp_path / "berth.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(config, environ={})
