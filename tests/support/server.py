"""A real berth server process on 127.0.0.1 for tests, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.net import free_port

BERTH = [sys.executable, "-m", "berth.cli"]


class BerthServer:
    def __init__(self, database_url: str, workdir: Path, workers: int = 1, config: str | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"berth-{self.port}.log"
        self.command = [
            *BERTH, "serve", "--host", "127.0.0.1", "--port", str(self.port),
            "--db", database_url, "--workers", str(workers),
        ]
        if config:
            self.command += ["--config", config]
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "BerthServer":
        log = open(self.log_path, "wb")
        # A session of its own, so stopping it also stops its workers.
        self.process = subprocess.Popen(
            self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.log_path.read_text())
            try:
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("berth did not answer in time:\n" + self.log_path.read_text())

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> "BerthServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
