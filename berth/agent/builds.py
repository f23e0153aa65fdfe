"""Runs the builds berth assigns to this host (a pull model).

``poll`` reads the attempts berth says are building here and hands each new
one to a small thread pool; a worker runs it through the driver and reports
the outcome. An attempt is started at most once per process, however many
polls list it. A report answered 409 (or 404) means the attempt is no longer
current (the conductor moved on, the instance was deleted): it is dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from berth.agent.client import BerthClient, BerthUnavailable, Conflict, NotFound, Refused
from berth.agent.driver import BuildRequest, BuildResult, Driver, FailureKind, Outcome

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class BuildCounts:
    started: int
    succeeded: int
    failed: int
    # Reports berth refused because the attempt was no longer current.
    dropped: int
    # Reports berth refused for another reason, or never received.
    unreported: int

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.dropped + self.unreported


class BuildRunner:
    def __init__(self, client: BerthClient, driver: Driver, host_uuid: str, workers: int) -> None:
        self.client = client
        self.driver = driver
        self.host_uuid = host_uuid
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="berth-build")
        self._lock = threading.Lock()
        # (instance uuid, attempt) of every attempt started by this process.
        self._started: set[tuple[str, int]] = set()
        self._counts = dict(succeeded=0, failed=0, dropped=0, unreported=0)
        self._route_missing_logged = False
        # Assignment listings berth answered.
        self.polls = 0

    def poll(self) -> int:
        """Start the attempts assigned here that are new; how many were."""
        try:
            assignments = self.client.get_assignments(self.host_uuid)
        except NotFound as exc:
            # A berth without the builds routes still takes the tree; keep
            # polling, it may be upgraded under us.
            if not self._route_missing_logged:
                log.warning("berth serves no build assignments (%s); polling on", exc)
                self._route_missing_logged = True
            return 0
        self.polls += 1
        new = [request for request in assignments if self._claim_start(request)]
        for request in new:
            self._pool.submit(self._run, request)
        return len(new)

    def counts(self) -> BuildCounts:
        with self._lock:
            return BuildCounts(started=len(self._started), **self._counts)

    def shutdown(self) -> None:
        """Wait for running builds (their reports give up once the agent is
        stopping); attempts not started yet stay with berth."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _claim_start(self, request: BuildRequest) -> bool:
        key = (request.instance_uuid, request.attempt)
        with self._lock:
            if key in self._started:
                return False
            self._started.add(key)
            return True

    def _run(self, request: BuildRequest) -> None:
        result = self._build(request)
        try:
            self.client.report(request, result)
        except (Conflict, NotFound) as exc:
            log.info("attempt %s of %s is no longer current, dropped: %s",
                     request.attempt, request.instance_uuid, exc)
            self._count("dropped")
        except (Refused, BerthUnavailable) as exc:
            log.error("could not report attempt %s of %s: %s", request.attempt, request.instance_uuid, exc)
            self._count("unreported")
        else:
            self._count("succeeded" if result.outcome is Outcome.SUCCEEDED else "failed")

    def _build(self, request: BuildRequest) -> BuildResult:
        try:
            return self.driver.build(request)
        except Exception as exc:  # a driver's bug must not kill the worker or lose the report
            log.exception("driver failed on attempt %s of %s", request.attempt, request.instance_uuid)
            return BuildResult.failed(FailureKind.HARDWARE, f"driver error: {type(exc).__name__}: {exc}")

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1
