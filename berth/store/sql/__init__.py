"""The SQL backend: SQLAlchemy Core over SQLite (embedded default, WAL mode)
or PostgreSQL, schema managed by Alembic revisions in ``migrations/``."""
