"""berth's own builds: the build documents the conductor works on, and the
hosts where each has an attempt running.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "builds",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("needs_work", sa.Boolean, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_builds"),
        sa.UniqueConstraint("id", name="uq_builds_id"),
    )
    op.create_index("ix_builds_needs_work", "builds", ["needs_work"])
    op.create_table(
        "build_hosts",
        sa.Column("host", sa.String(36), nullable=False),
        sa.Column("build_seq", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("host", "build_seq", name="pk_build_hosts"),
        sa.ForeignKeyConstraint(["build_seq"], ["builds.seq"], name="fk_build_hosts_build_seq_builds"),
    )
    op.create_index("ix_build_hosts_build_seq", "build_hosts", ["build_seq"])


def downgrade():
    op.drop_table("build_hosts")
    op.drop_table("builds")
