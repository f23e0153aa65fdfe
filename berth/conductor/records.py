"""Changing a build record: read, change, compare-and-set, and again when
another writer (an agent's report through the API, a delete, another
conductor) got there first."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from berth.conductor.model import Build
from berth.placement import errors
from berth.store.port import Store

# A change is a function of the build as read: the changed build, or None
# when it no longer applies (nothing is written then).
Change = Callable[[Build], "Build | None"]

# Writers of one build are few (its conductor, its agents' reports, a
# delete); this many lost races in a row means something is wrong.
MAX_RACES = 20
# The longest pause between two tries, in seconds.
MAX_PAUSE_S = 0.05


def update(store: Store, build_id: str, change: Change) -> Build | None:
    """Apply ``change`` to the newest build and save it; the saved build,
    or None when the change did not apply. Raises BuildNotFound, and
    ConcurrentUpdate after MAX_RACES lost races."""
    for race in range(MAX_RACES):
        build = store.get_build(build_id)
        changed = change(build)
        if changed is None:
            return None
        try:
            return store.save_build(changed)
        except errors.ConcurrentUpdate:
            # Writers that read the same version queue for the write
            # together, and the one that lost tends to lose again behind
            # the next ones; a random pause, growing with the losses,
            # spreads them out. No pause after the last one.
            if race + 1 < MAX_RACES:
                time.sleep(random.uniform(0, min(MAX_PAUSE_S, 0.001 * 2**race)))
    raise errors.ConcurrentUpdate()
