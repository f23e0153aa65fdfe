"""``berth serve`` with several workers: the supervisor upgrades the
database in a forked child and stops with its exit code when it fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa


def test_the_supervisor_upgrades_in_a_child(tmp_path: Path):
    from berth.cli import _upgrade_in_child
    from berth.config import load_settings

    url = f"sqlite:///{tmp_path / 'berth.db'}"
    settings = load_settings(None, {"BERTH_DATABASE_URL": url})
    assert _upgrade_in_child(None, settings) == 0
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert {"resource_providers", "allocations", "alembic_version"} <= tables


def test_serve_stops_with_the_upgrade_failure(tmp_path: Path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the database's directory should be")
    result = subprocess.run(
        [sys.executable, "-m", "berth.cli", "serve", "--host", "127.0.0.1", "--port", "0",
         "--workers", "2", "--db", f"sqlite:///{blocked / 'berth.db'}"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert "database upgrade failed" in result.stderr
    assert "Uvicorn running" not in result.stderr
