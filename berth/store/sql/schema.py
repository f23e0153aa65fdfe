"""The SQL schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Alembic revisions under ``migrations/`` create and change these tables; this
module is what the queries are written against.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=True),
    ]


resource_classes = sa.Table(
    "resource_classes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    *_timestamps(),
)

traits = sa.Table(
    "traits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    *_timestamps(),
)

resource_providers = sa.Table(
    "resource_providers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    sa.Column("root_provider_id", sa.Integer, sa.ForeignKey("resource_providers.id"), index=True),
    sa.Column("parent_provider_id", sa.Integer, sa.ForeignKey("resource_providers.id"), index=True),
    # The change (see change_counter) at which the provider, its inventories,
    # usages, traits or aggregates last changed.
    sa.Column("change_seq", sa.BigInteger, nullable=False, server_default="0", index=True),
    # The change at which anything but its usages last changed (migration
    # 0006): a feed reader reads only the usages of a provider whose shape
    # is older than its cursor. Not indexed: every read of it also bounds
    # change_seq, whose index finds the rows.
    sa.Column("shape_seq", sa.BigInteger, nullable=False, server_default="0"),
    # berth's own: the cell the provider belongs to (NULL: none); migration 0003.
    sa.Column("cell", sa.String(255), nullable=True),
    *_timestamps(),
)

inventories = sa.Table(
    "inventories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "resource_provider_id",
        sa.Integer,
        sa.ForeignKey("resource_providers.id"),
        nullable=False,
    ),
    sa.Column("resource_class_id", sa.Integer, sa.ForeignKey("resource_classes.id"), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("reserved", sa.Integer, nullable=False),
    sa.Column("min_unit", sa.Integer, nullable=False),
    sa.Column("max_unit", sa.Integer, nullable=False),
    sa.Column("step_size", sa.Integer, nullable=False),
    sa.Column("allocation_ratio", sa.Float, nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("resource_provider_id", "resource_class_id"),
    sa.Index(None, "resource_class_id"),
)

provider_traits = sa.Table(
    "provider_traits",
    metadata,
    sa.Column(
        "resource_provider_id",
        sa.Integer,
        sa.ForeignKey("resource_providers.id"),
        primary_key=True,
    ),
    sa.Column("trait_id", sa.Integer, sa.ForeignKey("traits.id"), primary_key=True),
    sa.Index(None, "trait_id"),
)

provider_aggregates = sa.Table(
    "provider_aggregates",
    metadata,
    sa.Column(
        "resource_provider_id",
        sa.Integer,
        sa.ForeignKey("resource_providers.id"),
        primary_key=True,
    ),
    sa.Column("aggregate_uuid", sa.String(36), primary_key=True),
    sa.Index(None, "aggregate_uuid"),
)

consumers = sa.Table(
    "consumers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("project_id", sa.String(255), nullable=False, index=True),
    sa.Column("user_id", sa.String(255), nullable=False),
    # NULL until a client names a type (microversion 1.38): reported "unknown".
    sa.Column("consumer_type", sa.String(255), nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    *_timestamps(),
)

allocations = sa.Table(
    "allocations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "resource_provider_id",
        sa.Integer,
        sa.ForeignKey("resource_providers.id"),
        nullable=False,
    ),
    sa.Column("consumer_id", sa.Integer, sa.ForeignKey("consumers.id"), nullable=False),
    sa.Column("resource_class_id", sa.Integer, sa.ForeignKey("resource_classes.id"), nullable=False),
    sa.Column("used", sa.Integer, nullable=False),
    *_timestamps(),
    # Covers the sums of what a provider's class has allocated (claims,
    # the change feed), less some consumers' (a claim that replaces them).
    sa.Index("ix_allocations_usage", "resource_provider_id", "resource_class_id", "consumer_id", "used"),
    sa.Index(None, "consumer_id"),
)


# One row: the number of the last committed change, for the candidate index's
# change feed (berth/store/sql/changes.py). ``store_id`` tells databases
# apart, ``catalog_seq`` is the change at which a resource class was last
# renamed or deleted, ``forgotten_seq`` the change up to which tombstones of
# deleted providers were pruned, ``removed_seq`` the change at which a
# provider was last deleted (a reader behind it reads the tombstones).
change_counter = sa.Table(
    "change_counter",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("store_id", sa.String(36), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("catalog_seq", sa.BigInteger, nullable=False),
    sa.Column("forgotten_seq", sa.BigInteger, nullable=False),
    sa.Column("removed_seq", sa.BigInteger, nullable=False, server_default="0"),
)

removed_providers = sa.Table(
    "removed_providers",
    metadata,
    sa.Column("uuid", sa.String(36), primary_key=True),
    sa.Column("change_seq", sa.BigInteger, nullable=False, index=True),
)


# berth's own builds (berth/conductor/; migration 0004): one JSON document
# per build, replaced whole under compare-and-set on ``version``. ``seq``
# orders builds by creation (paging); ``needs_work`` is the conductor's
# queue; ``build_hosts`` the hosts where a build has an attempt running,
# for the agents' polls. All three are written in the transaction that
# saves the document.
builds = sa.Table(
    "builds",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("needs_work", sa.Boolean, nullable=False, index=True),
    sa.Column("body", sa.Text, nullable=False),
    # The earliest deadline of an attempt still building (migration 0005):
    # from then on the build is work too.
    sa.Column("wake_at", sa.Float, nullable=True, index=True),
)

build_hosts = sa.Table(
    "build_hosts",
    metadata,
    sa.Column("host", sa.String(36), primary_key=True),
    sa.Column("build_seq", sa.Integer, sa.ForeignKey("builds.seq"), primary_key=True),
    sa.Index(None, "build_seq"),
)
