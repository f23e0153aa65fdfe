"""allocations: the index on (provider, class) also holds the consumer and
the amount, so that what a provider's class has allocated (every claim's
capacity check, the change feed's usages) is summed from the index alone,
without reading one table row per allocation.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_allocations_usage", "allocations", ["resource_provider_id", "resource_class_id", "consumer_id", "used"],
    )
    op.drop_index("ix_allocations_resource_provider_id_resource_class_id", "allocations")


def downgrade():
    op.create_index(
        "ix_allocations_resource_provider_id_resource_class_id", "allocations",
        ["resource_provider_id", "resource_class_id"],
    )
    op.drop_index("ix_allocations_usage", "allocations")
