"""``berth conductor``: run the conductor loop over the store until SIGTERM
or SIGINT (docs/conductor.md). Several may run against one store."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from berth.config import Settings

LOG = logging.getLogger("berth.conductor")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lease-ttl", type=float, default=30.0,
        help="seconds a conductor holds a build's work; a dead conductor's builds wait this long",
    )
    parser.add_argument("--idle-sleep", type=float, default=0.1, help="seconds to wait after a pass with no work")
    parser.add_argument(
        "--attempt-timeout", type=float, default=600.0,
        help="seconds an agent has to report a build attempt before it counts as failed (0: no limit)",
    )
    parser.add_argument("--owner", help="this conductor's name in the leases it takes (default: generated)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from berth.conductor.conductor import Conductor, ConductorSettings
    from berth.scheduler import Scheduler
    from berth.store import open_store

    logging.basicConfig(level=settings.logging.level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    store = open_store(settings.database.url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        store.upgrade()
        conductor = Conductor(
            Scheduler(store, settings.scheduler),
            ConductorSettings(
                lease_ttl=args.lease_ttl, idle_sleep=args.idle_sleep, attempt_timeout=args.attempt_timeout,
            ),
            owner=args.owner,
        )
        LOG.info("conductor %s working on %s", conductor.owner, settings.database.url)
        conductor.run(stop)
    finally:
        store.close()
    return 0
