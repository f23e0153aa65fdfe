"""Bring a database to the newest schema with Alembic, then sync the
standard resource classes and traits."""

from __future__ import annotations

from pathlib import Path

from berth.store.sql import catalog
from berth.store.sql.engine import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def upgrade(database: Database) -> None:
    # Imported here: only `berth db upgrade` and a server's start need
    # Alembic, and it would add about 11 MB to every worker process.
    from alembic import command
    from alembic.config import Config

    with database.writing() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        catalog.sync_standard_names(connection)
