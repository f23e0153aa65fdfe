"""Builders for test data in domain terms, so tests say what they mean."""

from __future__ import annotations

import uuid as uuidlib

from berth.placement.model import ConsumerClaim, Inventory, NOT_CHECKED, ResourceProvider
from berth.store.port import Store


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def provider(store: Store, name: str | None = None, parent: ResourceProvider | None = None) -> ResourceProvider:
    uuid = new_uuid()
    return store.create_provider(uuid, name or f"rp-{uuid[:8]}", parent.uuid if parent else None)


def inventory(store: Store, rp: ResourceProvider, **totals: int | Inventory) -> ResourceProvider:
    """Replace ``rp``'s inventory: ``VCPU=8`` or ``VCPU=Inventory(...)``."""
    current = store.get_provider(rp.uuid)
    wanted = {
        rc: value if isinstance(value, Inventory) else Inventory(rc, total=value)
        for rc, value in totals.items()
    }
    return store.replace_inventories(rp.uuid, current.generation, wanted).provider


def claim(
    consumer: str,
    allocations: dict[str, dict[str, int]],
    generation=NOT_CHECKED,
    project: str = "project-a",
    user: str = "user-a",
    consumer_type: str | None = None,
) -> ConsumerClaim:
    return ConsumerClaim(
        consumer_uuid=consumer,
        project_id=project,
        user_id=user,
        allocations=allocations,
        expected_generation=generation,
        consumer_type=consumer_type,
    )
