"""berth's own provider attribute: the cell a provider belongs to (NULL:
none), read by the scheduler through the change feed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    # batch mode: SQLite cannot add a column with ALTER in every form.
    with op.batch_alter_table("resource_providers") as batch:
        batch.add_column(sa.Column("cell", sa.String(255), nullable=True))


def downgrade():
    with op.batch_alter_table("resource_providers") as batch:
        batch.drop_column("cell")
