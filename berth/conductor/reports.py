"""The words of an agent's build report that the conductor reads too.

A module of its own, importing nothing of berth, so that an agent (and the
command line that starts one) loads the vocabulary without the conductor,
the scheduler and numpy."""

from __future__ import annotations

import enum


class FailureKind(enum.Enum):
    """Why an agent says a build failed, in the words of the build report
    (agents and the conductor share this vocabulary)."""

    # The host no longer had what the scheduler claimed (seed 01's race).
    RESOURCE_RACE = "resource_race"
    # A transient glitch: a port could not be bound, an image not fetched.
    NETWORK = "network"
    # The host itself is at fault: a disk, a DIMM, a device that will not attach.
    HARDWARE = "hardware"
