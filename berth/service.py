"""Assemble the running service: settings -> store -> ASGI app."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from berth.config import Settings, load_settings

# glibc's mallopt parameter number for the mmap threshold (malloc.h).
_M_MMAP_THRESHOLD = -3
# Blocks at least this large are mapped on their own and unmapped when freed.
LARGE_BLOCK_BYTES = 4 * 1024 * 1024


def build_app(settings: Settings):
    """The ASGI app over the store the settings name."""
    from berth.api.app import create_app
    from berth.store import open_store

    return_large_blocks_to_the_os()
    return create_app(settings, open_store(settings.database.url))


def app_from_environment():
    """Factory for worker processes: settings from BERTH_CONFIG_FILE and
    BERTH_* variables (``berth serve --workers N`` sets them)."""
    return build_app(load_settings(os.environ.get("BERTH_CONFIG_FILE") or None))


def return_large_blocks_to_the_os() -> bool:
    """Fix glibc's mmap threshold at LARGE_BLOCK_BYTES; True if set.

    Works around glibc raising that threshold after a large block is freed
    (up to 32 MiB): the megabytes of one large answer (GET
    /allocation_candidates without a limit at 10,000 hosts) then come from
    the heap and stay in the process after the answer is sent, about 30 MiB
    per worker. A fixed threshold keeps them mapped on their own and
    unmapped when freed. Elsewhere than glibc this does nothing.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES))
