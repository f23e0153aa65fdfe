"""The initial schema: providers, inventories, traits, aggregates, consumers,
allocations.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamps():
    return [
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=True),
    ]


def _named_table(name):
    op.create_table(
        name,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("name", name=f"uq_{name}_name"),
    )


def upgrade() -> None:
    _named_table("resource_classes")
    _named_table("traits")
    op.create_table(
        "resource_providers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("root_provider_id", sa.Integer, sa.ForeignKey("resource_providers.id")),
        sa.Column("parent_provider_id", sa.Integer, sa.ForeignKey("resource_providers.id")),
        *_timestamps(),
        sa.UniqueConstraint("uuid", name="uq_resource_providers_uuid"),
        sa.UniqueConstraint("name", name="uq_resource_providers_name"),
    )
    op.create_index("ix_resource_providers_root_provider_id", "resource_providers", ["root_provider_id"])
    op.create_index("ix_resource_providers_parent_provider_id", "resource_providers", ["parent_provider_id"])
    op.create_table(
        "inventories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("resource_provider_id", sa.Integer, sa.ForeignKey("resource_providers.id"), nullable=False),
        sa.Column("resource_class_id", sa.Integer, sa.ForeignKey("resource_classes.id"), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("reserved", sa.Integer, nullable=False),
        sa.Column("min_unit", sa.Integer, nullable=False),
        sa.Column("max_unit", sa.Integer, nullable=False),
        sa.Column("step_size", sa.Integer, nullable=False),
        sa.Column("allocation_ratio", sa.Float, nullable=False),
        *_timestamps(),
        sa.UniqueConstraint(
            "resource_provider_id", "resource_class_id",
            name="uq_inventories_resource_provider_id_resource_class_id",
        ),
    )
    op.create_index("ix_inventories_resource_class_id", "inventories", ["resource_class_id"])
    op.create_table(
        "provider_traits",
        sa.Column("resource_provider_id", sa.Integer, sa.ForeignKey("resource_providers.id"), primary_key=True),
        sa.Column("trait_id", sa.Integer, sa.ForeignKey("traits.id"), primary_key=True),
    )
    op.create_index("ix_provider_traits_trait_id", "provider_traits", ["trait_id"])
    op.create_table(
        "provider_aggregates",
        sa.Column("resource_provider_id", sa.Integer, sa.ForeignKey("resource_providers.id"), primary_key=True),
        sa.Column("aggregate_uuid", sa.String(36), primary_key=True),
    )
    op.create_index("ix_provider_aggregates_aggregate_uuid", "provider_aggregates", ["aggregate_uuid"])
    op.create_table(
        "consumers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("consumer_type", sa.String(255), nullable=True),
        sa.Column("generation", sa.Integer, nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("uuid", name="uq_consumers_uuid"),
    )
    op.create_index("ix_consumers_project_id", "consumers", ["project_id"])
    op.create_table(
        "allocations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("resource_provider_id", sa.Integer, sa.ForeignKey("resource_providers.id"), nullable=False),
        sa.Column("consumer_id", sa.Integer, sa.ForeignKey("consumers.id"), nullable=False),
        sa.Column("resource_class_id", sa.Integer, sa.ForeignKey("resource_classes.id"), nullable=False),
        sa.Column("used", sa.Integer, nullable=False),
        *_timestamps(),
    )
    op.create_index(
        "ix_allocations_resource_provider_id_resource_class_id",
        "allocations", ["resource_provider_id", "resource_class_id"],
    )
    op.create_index("ix_allocations_consumer_id", "allocations", ["consumer_id"])
