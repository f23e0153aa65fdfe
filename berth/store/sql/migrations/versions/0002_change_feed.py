"""The change feed the candidate index reads: a change counter, the change
at which each provider last changed, and tombstones of deleted providers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "resource_providers",
        sa.Column("change_seq", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_index("ix_resource_providers_change_seq", "resource_providers", ["change_seq"])
    counter = op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("store_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("catalog_seq", sa.BigInteger, nullable=False),
        sa.Column("forgotten_seq", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(
        counter,
        [{"id": 1, "store_id": str(uuid.uuid4()), "seq": 1, "catalog_seq": 0, "forgotten_seq": 0}],
    )
    op.create_table(
        "removed_providers",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("change_seq", sa.BigInteger, nullable=False, index=True),
    )


def downgrade():
    op.drop_table("removed_providers")
    op.drop_table("change_counter")
    op.drop_index("ix_resource_providers_change_seq", "resource_providers")
    op.drop_column("resource_providers", "change_seq")
