"""resource_providers.shape_seq: the change at which a provider last changed
in anything but its usages (name, tree, cell, inventories, traits,
aggregates). A reader of the change feed reads only the usages of a
provider whose shape_seq is older than its cursor.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "resource_providers",
        sa.Column("shape_seq", sa.BigInteger, nullable=False, server_default="0"),
    )
    # Every provider's shape is as new as its last change: no reader holding
    # a cursor from before this revision misses a change of shape.
    op.execute("UPDATE resource_providers SET shape_seq = change_seq")


def downgrade():
    op.drop_column("resource_providers", "shape_seq")
