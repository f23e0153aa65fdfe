"""The CQL schema, laid out by access path, and ``berth db upgrade``.

``tree`` is the table every compare-and-set works on: one partition per
provider tree (keyed by the uuid of the root the tree was created under),
with a row per provider (``kind`` 'p'), per inventory ('i', keyed by the
resource class id) and per allocation ('a', keyed by consumer, class and
the claim transaction that wrote it, so that no two claims ever write the
same row). A conditional batch must stay in one table and one partition;
keeping a tree's providers, inventories and allocations together is what
makes a claim on a tree one batch.

The other tables are lookups written after the compare-and-set they
follow (``providers``, ``provider_names`` is itself claimed by CAS),
indexes for rare administrative checks (``class_users``, ``trait_users``,
``consumers_by_project``), the consumers with their generations, the
in-flight claim transactions, and the change feed.

Migrations are numbered; ``schema_version`` remembers the last one applied.
"""

from __future__ import annotations

import uuid

import os_resource_classes
import os_traits

from berth.store.cassandra.session import Connection, utcnow

# Seconds an entry of the change feed lives; readers further behind than
# changes.HORIZON_S read everything again anyway.
CHANGE_TTL_S = 86_400

_V1 = [
    """CREATE TABLE IF NOT EXISTS {ks}.schema_version (id int PRIMARY KEY, version int)""",
    # Resource classes ('rc') and traits ('trait'); one small partition each.
    """CREATE TABLE IF NOT EXISTS {ks}.catalog (
        kind text, name text, id int, created_at timestamp, updated_at timestamp,
        PRIMARY KEY (kind, name))""",
    # The next id for a custom resource class, advanced by CAS.
    """CREATE TABLE IF NOT EXISTS {ks}.catalog_ids (kind text PRIMARY KEY, next_id int)""",
    """CREATE TABLE IF NOT EXISTS {ks}.tree (
        part text, provider text, kind text, key text,
        name text, parent text, root text, generation int, created_seq bigint,
        traits set<text>, aggregates set<text>, children set<text>,
        total int, reserved int, min_unit int, max_unit int, step_size int, allocation_ratio double,
        consumer text, rc int, used int, state text, tx text, release_tx text,
        writer text, created_at timestamp, updated_at timestamp,
        PRIMARY KEY (part, provider, kind, key))""",
    # Where a provider's tree partition is (never changes), and its name.
    """CREATE TABLE IF NOT EXISTS {ks}.providers (uuid text PRIMARY KEY, part text)""",
    """CREATE TABLE IF NOT EXISTS {ks}.provider_names (name text PRIMARY KEY, uuid text)""",
    """CREATE TABLE IF NOT EXISTS {ks}.class_users (rc int, provider text, PRIMARY KEY (rc, provider))""",
    """CREATE TABLE IF NOT EXISTS {ks}.trait_users (trait text, provider text, PRIMARY KEY (trait, provider))""",
    # ``allocations``: provider uuid -> {resource class id: amount}, the
    # committed state; ``tx``: the claim transaction holding the consumer.
    # A consumer whose allocations were cleared stays as a placeholder row.
    """CREATE TABLE IF NOT EXISTS {ks}.consumers (
        uuid text PRIMARY KEY, project text, user text, consumer_type text,
        generation int, placeholder boolean, tx text,
        allocations map<text, frozen<map<int, int>>>,
        created_at timestamp, updated_at timestamp)""",
    """CREATE TABLE IF NOT EXISTS {ks}.consumers_by_project (
        project text, consumer text, PRIMARY KEY (project, consumer))""",
    # In-flight claims: 'open' until committed or aborted by CAS, deleted
    # once every partition and consumer is finalised. ``plan`` is JSON.
    """CREATE TABLE IF NOT EXISTS {ks}.claim_tx (
        tx text PRIMARY KEY, state text, deadline timestamp,
        parts set<text>, consumers list<text>, plan text)
        WITH default_time_to_live = 604800""",
    # The change feed: one partition per minute.
    f"""CREATE TABLE IF NOT EXISTS {{ks}}.changes (
        bucket bigint, at timeuuid, provider text, PRIMARY KEY (bucket, at, provider))
        WITH default_time_to_live = {CHANGE_TTL_S}""",
    """CREATE TABLE IF NOT EXISTS {ks}.store_meta (key text PRIMARY KEY, value text)""",
]

# 2: a provider's cell (berth's own attribute; not guarded by the generation).
_V2 = ["ALTER TABLE {ks}.tree ADD IF NOT EXISTS cell text"]

# 3: berth's own builds (berth/conductor/, store/cassandra/builds.py): a
# build is one partition; its creation order, the conductor's queue and the
# hosts with running attempts are lookups written ahead of the build's
# compare-and-set and checked on read.
_V3 = [
    "CREATE TABLE IF NOT EXISTS {ks}.builds (id text PRIMARY KEY, version int, body text)",
    """CREATE TABLE IF NOT EXISTS {ks}.build_order (
        bucket text, created_at double, id text, PRIMARY KEY (bucket, created_at, id))""",
    """CREATE TABLE IF NOT EXISTS {ks}.build_work (
        bucket text, build_id text, version int, PRIMARY KEY (bucket, build_id, version))""",
    """CREATE TABLE IF NOT EXISTS {ks}.build_hosts (
        host text, build_id text, version int, PRIMARY KEY (host, build_id, version))""",
]

# 4: a resource class's or trait's state: 'deleting' while a delete makes
# sure no provider uses it (store/cassandra/retirement.py).
_V4 = ["ALTER TABLE {ks}.catalog ADD IF NOT EXISTS state text"]

# 5: the re-parenting holding a provider row (store/cassandra/moves.py).
_V5 = ["ALTER TABLE {ks}.tree ADD IF NOT EXISTS moving text"]

MIGRATIONS: list[list[str]] = [_V1, _V2, _V3, _V4, _V5]


def upgrade(conn: Connection) -> None:
    """Create the keyspace, apply missing migrations, sync standard names."""
    url = conn.url
    conn.ddl(
        "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = "
        f"{{{{'class': 'SimpleStrategy', 'replication_factor': {url.replication_factor}}}}}"
    )
    conn.ddl(_V1[0])
    rows = conn.execute("SELECT version FROM {ks}.schema_version WHERE id = 1")
    version = rows[0].version if rows else 0
    for number, statements in enumerate(MIGRATIONS, start=1):
        if number <= version:
            continue
        for cql in statements:
            conn.ddl(cql)
        conn.execute("INSERT INTO {ks}.schema_version (id, version) VALUES (1, ?)", (number,))
    _sync_standard_names(conn)
    conn.execute(
        "INSERT INTO {ks}.store_meta (key, value) VALUES ('store_id', ?) IF NOT EXISTS", (str(uuid.uuid4()),)
    )


def _sync_standard_names(conn: Connection) -> None:
    """Insert the standard classes (ids in os-resource-classes order, as the
    SQL backend numbers them) and traits this release knows of. Plain
    inserts of the same values: concurrent upgrades agree."""
    now = utcnow()
    present_rc = {r.name for r in conn.execute("SELECT name FROM {ks}.catalog WHERE kind = 'rc'")}
    present_traits = {r.name for r in conn.execute("SELECT name FROM {ks}.catalog WHERE kind = 'trait'")}
    insert = "INSERT INTO {ks}.catalog (kind, name, id, created_at) VALUES (?, ?, ?, ?)"
    writes = [
        (insert, ("rc", name, index, now))
        for index, name in enumerate(os_resource_classes.STANDARDS, start=1)
        if name not in present_rc
    ]
    writes += [(insert, ("trait", name, None, now)) for name in os_traits.get_traits() if name not in present_traits]
    for start in range(0, len(writes), 64):
        conn.write_plain(writes[start:start + 64])
    conn.execute(
        "INSERT INTO {ks}.catalog_ids (kind, next_id) VALUES ('rc', ?) IF NOT EXISTS",
        (FIRST_CUSTOM_CLASS_ID,),
    )


# Custom resource classes are numbered from here, after any standard class
# a later os-resource-classes may add.
FIRST_CUSTOM_CLASS_ID = 10_000
