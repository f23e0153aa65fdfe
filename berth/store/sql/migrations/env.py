"""Alembic environment: runs revisions on the connection berth hands over.

berth never runs Alembic from a config file on disk: ``migrate.upgrade``
builds the configuration in code and passes its open connection in
``config.attributes["connection"]``.
"""

from alembic import context

from berth.store.sql.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
