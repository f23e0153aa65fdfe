"""Resource providers: rows, trees, generations and the provider query."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from berth.placement import errors
from berth.placement.model import ResourceProvider, Timestamps
from berth.placement.query import AggregateRequirement, ProviderQuery, TraitRequirement
from berth.store.sql import changes, schema
from berth.store.sql.clock import as_utc, utcnow

_rp = schema.resource_providers
_root = _rp.alias("root")
_parent = _rp.alias("parent")


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderRow:
    """A provider with its internal ids, for use inside one transaction."""

    id: int
    root_id: int
    parent_id: int | None
    provider: ResourceProvider

    @property
    def uuid(self) -> str:
        return self.provider.uuid

    @property
    def generation(self) -> int:
        return self.provider.generation


def _provider_select() -> sa.Select:
    return sa.select(
        _rp.c.id,
        _rp.c.uuid,
        _rp.c.name,
        _rp.c.generation,
        _rp.c.root_provider_id,
        _rp.c.parent_provider_id,
        _rp.c.created_at,
        _rp.c.updated_at,
        _root.c.uuid.label("root_uuid"),
        _parent.c.uuid.label("parent_uuid"),
    ).select_from(
        _rp.join(_root, _rp.c.root_provider_id == _root.c.id).outerjoin(
            _parent, _rp.c.parent_provider_id == _parent.c.id
        )
    )


def _to_row(record: Row) -> ProviderRow:
    return ProviderRow(
        id=record.id,
        root_id=record.root_provider_id,
        parent_id=record.parent_provider_id,
        provider=ResourceProvider(
            uuid=record.uuid,
            name=record.name,
            generation=record.generation,
            root_provider_uuid=record.root_uuid,
            parent_provider_uuid=record.parent_uuid,
            timestamps=Timestamps(as_utc(record.created_at), as_utc(record.updated_at)),
        ),
    )


def find_provider(conn: Connection, uuid: str, lock: bool = False) -> ProviderRow | None:
    query = _provider_select().where(_rp.c.uuid == uuid)
    if lock:
        query = query.with_for_update(of=_rp)
    record = conn.execute(query).one_or_none()
    return _to_row(record) if record else None


def get_provider(conn: Connection, uuid: str, lock: bool = False) -> ProviderRow:
    row = find_provider(conn, uuid, lock)
    if row is None:
        raise errors.ResourceProviderNotFound(uuid)
    return row


def rows_by_id(conn: Connection, ids: Iterable[int]) -> dict[int, ProviderRow]:
    ids = list(ids)
    if not ids:
        return {}
    return {r.id: _to_row(r) for r in conn.execute(_provider_select().where(_rp.c.id.in_(ids)))}


def lock_providers(conn: Connection, uuids: set[str]) -> dict[str, ProviderRow]:
    """Lock providers in one fixed order (so two writers never deadlock)."""
    if not uuids:
        return {}
    query = (
        _provider_select()
        .where(_rp.c.uuid.in_(sorted(uuids)))
        .order_by(_rp.c.id)
        .with_for_update(of=_rp)
    )
    rows = {record.uuid: _to_row(record) for record in conn.execute(query)}
    missing = uuids - rows.keys()
    if missing:
        raise errors.ResourceProviderNotFound(sorted(missing)[0])
    return rows


def check_generation(row: ProviderRow, expected: int) -> None:
    if row.generation != expected:
        raise errors.ConcurrentUpdate(
            "resource provider generation conflict - "
            f"expected {row.generation} but got {expected}"
        )


def bump_generation(conn: Connection, row: ProviderRow) -> ResourceProvider:
    """Compare-and-set the provider's generation to the next one."""
    now = utcnow()
    result = conn.execute(
        _rp.update()
        .where(_rp.c.id == row.id, _rp.c.generation == row.generation)
        .values(generation=row.generation + 1, updated_at=now)
    )
    if result.rowcount != 1:
        raise errors.ConcurrentUpdate()
    changes.touch(conn, [row.id])
    return dataclasses.replace(
        row.provider,
        generation=row.generation + 1,
        timestamps=dataclasses.replace(row.provider.timestamps, updated_at=as_utc(now)),
    )


def create_provider(
    conn: Connection, uuid: str, name: str, parent_uuid: str | None
) -> ResourceProvider:
    if find_provider(conn, uuid) is not None:
        raise errors.ProviderExists(uuid)
    _check_name_free(conn, name)
    parent = None
    if parent_uuid is not None:
        if parent_uuid == uuid:
            raise errors.InvalidParent(
                "parent provider UUID cannot be same as UUID. Please set "
                "parent provider UUID to None if there is no parent."
            )
        parent = find_provider(conn, parent_uuid, lock=True)
        if parent is None:
            raise errors.InvalidParent("parent provider UUID does not exist.")
    new_id = conn.execute(
        _rp.insert().values(
            uuid=uuid,
            name=name,
            generation=0,
            parent_provider_id=parent.id if parent else None,
            root_provider_id=parent.root_id if parent else None,
            created_at=utcnow(),
        )
    ).inserted_primary_key[0]
    if parent is None:
        conn.execute(_rp.update().where(_rp.c.id == new_id).values(root_provider_id=new_id))
    changes.touch(conn, [new_id])
    return get_provider(conn, uuid).provider


def _check_name_free(conn: Connection, name: str, except_id: int | None = None) -> None:
    query = sa.select(_rp.c.id).where(_rp.c.name == name)
    if except_id is not None:
        query = query.where(_rp.c.id != except_id)
    if conn.execute(query).first() is not None:
        raise errors.DuplicateProviderName(name)


def update_provider(
    conn: Connection, uuid: str, name: str, parent_uuid: str | None, allow_reparent: bool
) -> ResourceProvider:
    row = get_provider(conn, uuid, lock=True)
    _check_name_free(conn, name, except_id=row.id)
    values: dict = {"name": name, "updated_at": utcnow()}
    if parent_uuid != row.provider.parent_provider_uuid:
        new_parent, new_root_id = _new_parent(conn, row, parent_uuid, allow_reparent)
        values["parent_provider_id"] = new_parent
        _set_subtree_root(conn, row, new_root_id)
    conn.execute(_rp.update().where(_rp.c.id == row.id).values(**values))
    changes.touch(conn, [row.id])
    return get_provider(conn, uuid).provider


def _new_parent(
    conn: Connection, row: ProviderRow, parent_uuid: str | None, allow_reparent: bool
) -> tuple[int | None, int]:
    """Validate a parent change; return the new parent id and root id."""
    if parent_uuid is None:
        if not allow_reparent:
            raise errors.InvalidParent("un-parenting a provider is not currently allowed.")
        return None, row.id
    parent = find_provider(conn, parent_uuid, lock=True)
    if parent is None:
        raise errors.InvalidParent("parent provider UUID does not exist.")
    if row.parent_id is not None and not allow_reparent:
        raise errors.InvalidParent("re-parenting a provider is not currently allowed.")
    if parent.id in subtree_ids(conn, row.id):
        raise errors.InvalidParent("creating loop in the provider tree is not allowed.")
    return parent.id, parent.root_id


def subtree_ids(conn: Connection, provider_id: int) -> set[int]:
    """The provider and all its descendants."""
    found = {provider_id}
    frontier = [provider_id]
    while frontier:
        children = conn.execute(
            sa.select(_rp.c.id).where(_rp.c.parent_provider_id.in_(frontier))
        ).scalars()
        frontier = [child for child in children if child not in found]
        found.update(frontier)
    return found


def _set_subtree_root(conn: Connection, row: ProviderRow, root_id: int) -> None:
    subtree = subtree_ids(conn, row.id)
    conn.execute(_rp.update().where(_rp.c.id.in_(subtree)).values(root_provider_id=root_id))
    changes.touch(conn, subtree)


def delete_provider(conn: Connection, uuid: str) -> None:
    row = get_provider(conn, uuid, lock=True)
    has_child = conn.execute(
        sa.select(_rp.c.id).where(_rp.c.parent_provider_id == row.id).limit(1)
    ).first()
    if has_child:
        raise errors.CannotDeleteParent(uuid)
    has_allocation = conn.execute(
        sa.select(schema.allocations.c.id)
        .where(schema.allocations.c.resource_provider_id == row.id)
        .limit(1)
    ).first()
    if has_allocation:
        raise errors.ProviderInUse()
    for table in (schema.inventories, schema.provider_traits, schema.provider_aggregates):
        conn.execute(table.delete().where(table.c.resource_provider_id == row.id))
    conn.execute(_rp.update().where(_rp.c.id == row.id).values(root_provider_id=None))
    conn.execute(_rp.delete().where(_rp.c.id == row.id))
    changes.forget(conn, uuid)


def list_providers(conn: Connection, query: ProviderQuery) -> list[ResourceProvider]:
    select = _provider_select().order_by(_rp.c.id)
    if query.name is not None:
        select = select.where(_rp.c.name == query.name)
    if query.uuid is not None:
        select = select.where(_rp.c.uuid == query.uuid)
    if query.in_tree is not None:
        tree = find_provider(conn, query.in_tree)
        if tree is None:
            return []
        select = select.where(_rp.c.root_provider_id == tree.root_id)
    select = _filter_traits(select, query.traits)
    select = _filter_aggregates(select, query.aggregates)
    for resource_class, amount in query.resources.items():
        select = select.where(_rp.c.id.in_(_providers_with_room(resource_class, amount)))
    return [_to_row(record).provider for record in conn.execute(select)]


def _filter_traits(select: sa.Select, requirement: TraitRequirement) -> sa.Select:
    pt, traits = schema.provider_traits, schema.traits

    def having_any(names: frozenset[str]) -> sa.Select:
        return (
            sa.select(pt.c.resource_provider_id)
            .join(traits, traits.c.id == pt.c.trait_id)
            .where(traits.c.name.in_(sorted(names)))
        )

    def having_all(names: set[str]) -> sa.Select:
        return (
            having_any(frozenset(names))
            .group_by(pt.c.resource_provider_id)
            .having(sa.func.count(sa.distinct(traits.c.name)) == len(names))
        )

    # Every single-trait group goes into one subquery, and repeated groups
    # count once: SQLite refuses statements nested over 1000 deep, which one
    # subquery per name of a long "required=A,B,..." reached (a 500).
    singles = {name for group in requirement.any_of if len(group) == 1 for name in group}
    if singles:
        select = select.where(_rp.c.id.in_(having_all(singles)))
    for group in sorted({g for g in requirement.any_of if len(g) > 1}, key=sorted):
        select = select.where(_rp.c.id.in_(having_any(group)))
    if requirement.forbidden:
        select = select.where(_rp.c.id.not_in(having_any(requirement.forbidden)))
    return select


def _filter_aggregates(select: sa.Select, requirement: AggregateRequirement) -> sa.Select:
    pa = schema.provider_aggregates

    def member_of_any(aggregates: frozenset[str]) -> sa.Select:
        return sa.select(pa.c.resource_provider_id).where(
            pa.c.aggregate_uuid.in_(sorted(aggregates))
        )

    for group in requirement.any_of:
        select = select.where(_rp.c.id.in_(member_of_any(group)))
    if requirement.forbidden:
        select = select.where(_rp.c.id.not_in(member_of_any(requirement.forbidden)))
    return select


def _providers_with_room(resource_class: str, amount: int) -> sa.Select:
    """Providers whose inventory of the class can take ``amount`` more."""
    inv, alloc, rc = schema.inventories, schema.allocations, schema.resource_classes
    usage = (
        sa.select(
            alloc.c.resource_provider_id,
            sa.func.sum(alloc.c.used).label("used"),
        )
        .join(rc, rc.c.id == alloc.c.resource_class_id)
        .where(rc.c.name == resource_class)
        .group_by(alloc.c.resource_provider_id)
        .subquery()
    )
    capacity = (inv.c.total - inv.c.reserved) * inv.c.allocation_ratio
    return (
        sa.select(inv.c.resource_provider_id)
        .join(rc, rc.c.id == inv.c.resource_class_id)
        .outerjoin(usage, usage.c.resource_provider_id == inv.c.resource_provider_id)
        .where(
            rc.c.name == resource_class,
            inv.c.min_unit <= amount,
            inv.c.max_unit >= amount,
            (amount % inv.c.step_size) == 0,
            sa.func.coalesce(usage.c.used, 0) + amount <= capacity,
        )
    )


def get_cell(conn: Connection, uuid: str) -> str | None:
    record = conn.execute(sa.select(_rp.c.cell).where(_rp.c.uuid == uuid)).one_or_none()
    if record is None:
        raise errors.ResourceProviderNotFound(uuid)
    return record.cell


def set_cell(conn: Connection, uuid: str, cell: str | None) -> None:
    """The cell is not Placement data: no generation check or bump (see
    Store.set_provider_cell), but the change feed must carry it."""
    row = get_provider(conn, uuid, lock=True)
    conn.execute(_rp.update().where(_rp.c.id == row.id).values(cell=cell))
    changes.touch(conn, [row.id])
