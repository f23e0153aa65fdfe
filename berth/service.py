"""Assemble the running service: settings -> store -> ASGI app."""

from __future__ import annotations

import os

from berth.config import Settings, load_settings


def build_app(settings: Settings):
    """The ASGI app over the store the settings name."""
    from berth.api.app import create_app
    from berth.store import open_store

    return create_app(settings, open_store(settings.database.url))


def app_from_environment():
    """Factory for worker processes: settings from BERTH_CONFIG_FILE and
    BERTH_* variables (``berth serve --workers N`` sets them)."""
    return build_app(load_settings(os.environ.get("BERTH_CONFIG_FILE") or None))
