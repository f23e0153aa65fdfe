"""One conductor at a time works on a build: it takes the build's lease, a
compare-and-set on the build record that names an owner and an expiry.

A lease that expired (its conductor died or stalled) is taken by the next
conductor that finds the build in the store's queue. The lease only keeps
conductors from doing the same work twice; every write of the record is a
compare-and-set on its version anyway, and every step of the work is
idempotent, so a conductor that lost its lease mid-step does no harm that
the next one does not finish or undo (docs/conductor.md).
"""

from __future__ import annotations

import dataclasses

from berth.conductor.model import Build, Lease
from berth.conductor.records import update
from berth.placement import errors
from berth.store.port import Store


def take(store: Store, build: Build, owner: str, ttl: float, now: float) -> Build | None:
    """The build with ``owner``'s lease until ``now + ttl``, or None when
    another conductor holds an unexpired lease or wrote the build since it
    was read (the caller moves on to other work)."""
    if build.lease is not None and build.lease.held_by_other(owner, now):
        return None
    try:
        return store.save_build(dataclasses.replace(build, lease=Lease(owner, now + ttl)))
    except (errors.ConcurrentUpdate, errors.NotFound):
        return None


def holds(build: Build, owner: str, now: float) -> bool:
    return build.lease is not None and build.lease.owner == owner and build.lease.expires_at > now


def give_back(store: Store, build_id: str, owner: str) -> None:
    """Drop ``owner``'s lease so another conductor need not wait for it
    to expire; nothing happens when the lease is someone else's now."""
    def without_lease(build: Build) -> Build | None:
        if build.lease is None or build.lease.owner != owner:
            return None
        return dataclasses.replace(build, lease=None)

    try:
        update(store, build_id, without_lease)
    except (errors.ConcurrentUpdate, errors.NotFound):
        pass
