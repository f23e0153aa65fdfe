"""[scheduler] alternate_secret: read from the file or the environment,
never printed, and made up by ``berth serve`` when unset."""

from __future__ import annotations

from berth.cli import _with_alternate_secret
from berth.config import load_settings


def test_the_secret_comes_from_the_environment_and_is_not_printed():
    settings = load_settings(None, {"BERTH_SCHEDULER_ALTERNATE_SECRET": "s3cret-value"})
    assert settings.scheduler.alternate_secret == "s3cret-value"
    assert "s3cret-value" not in repr(settings)


def test_serve_keeps_a_configured_secret():
    settings = load_settings(None, {"BERTH_SCHEDULER_ALTERNATE_SECRET": "shared"})
    assert _with_alternate_secret(settings) is settings


def test_serve_makes_one_up_when_unset():
    settings = load_settings(None, {})
    assert settings.scheduler.alternate_secret == ""
    first, second = _with_alternate_secret(settings), _with_alternate_secret(settings)
    assert len(first.scheduler.alternate_secret) >= 32
    assert first.scheduler.alternate_secret != second.scheduler.alternate_secret
    assert first.scheduler.selection_ttl == settings.scheduler.selection_ttl
