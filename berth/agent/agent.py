"""The agent's main loop: the tree first, then assignments, with a periodic
re-assertion of the tree. It stops when ``stop`` is called (the command
calls it on SIGTERM or SIGINT) and never on an error from berth."""

from __future__ import annotations

import logging
import threading
import time

import httpx

from berth.agent.builds import BuildRunner
from berth.agent.client import BerthClient, BerthError, BerthUnavailable
from berth.agent.config import AgentConfig
from berth.agent.driver import Driver, FakeDriver
from berth.agent.reporter import SyncReport, TreeReporter
from berth.agent.tree import plan_tree

log = logging.getLogger(__name__)


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        driver: Driver | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self._stop = threading.Event()
        self.client = BerthClient(
            config.berth, stop=self._stop, max_backoff=config.loop.max_backoff, transport=transport
        )
        self.tree = plan_tree(config.host)
        self.reporter = TreeReporter(self.client, self.tree)
        self.builds = BuildRunner(
            self.client,
            driver or FakeDriver(config.fake_driver, host=config.host.name),
            self.tree.root.uuid,
            config.loop.build_workers,
        )
        self.last_sync: SyncReport | None = None

    @property
    def host_uuid(self) -> str:
        return self.tree.root.uuid

    def run(self) -> None:
        log.info("agent for host %s (%s) reporting to %s",
                 self.config.host.name, self.host_uuid, self.config.berth.url)
        next_sync = 0.0
        try:
            while not self._stop.is_set():
                if time.monotonic() >= next_sync:
                    self._sync()
                    next_sync = time.monotonic() + self.config.loop.resync_interval
                self._poll()
                self._stop.wait(self.config.loop.poll_interval)
        finally:
            self.builds.shutdown()
            self.client.close()

    def stop(self) -> None:
        self._stop.set()

    def _sync(self) -> None:
        try:
            self.last_sync = report = self.reporter.sync()
        except BerthUnavailable:
            return  # stopping
        except BerthError as exc:
            log.error("provider tree not synced: %s", exc)
            return
        except Exception:  # never let one bad answer end the agent
            log.exception("provider tree not synced")
            return
        if report.created or report.written or report.failed or report.cell_written:
            log.info("provider tree synced: %d created, %d written, %d failed, %d conflicts",
                     len(report.created), len(report.written), len(report.failed), report.conflicts)

    def _poll(self) -> None:
        try:
            self.builds.poll()
        except BerthUnavailable:
            return
        except BerthError as exc:
            log.error("build assignments not read: %s", exc)
        except Exception:
            log.exception("build assignments not read")
