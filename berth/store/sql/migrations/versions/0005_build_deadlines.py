"""builds.wake_at: the earliest deadline of a build's running attempts,
from which the conductor's queue lists the build again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    # A nullable column without a default: a plain ALTER on SQLite too (no
    # batch copy of the table, which build_hosts' foreign key would refuse).
    op.add_column("builds", sa.Column("wake_at", sa.Float, nullable=True))
    op.create_index("ix_builds_wake_at", "builds", ["wake_at"])


def downgrade():
    op.drop_index("ix_builds_wake_at", "builds")
    with op.batch_alter_table("builds") as batch:
        batch.drop_column("wake_at")
