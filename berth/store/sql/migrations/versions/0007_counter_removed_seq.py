"""change_counter.removed_seq: the change at which a provider was last
deleted. A reader of the change feed whose cursor is not behind it has no
tombstone to read, and skips that query.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "change_counter",
        sa.Column("removed_seq", sa.BigInteger, nullable=False, server_default="0"),
    )
    # Tombstones written before this revision carry their own numbers: the
    # newest of them is where a reader must start looking.
    op.execute(
        "UPDATE change_counter SET removed_seq ="
        " (SELECT COALESCE(MAX(change_seq), 0) FROM removed_providers)"
    )


def downgrade():
    op.drop_column("change_counter", "removed_seq")
