"""A ``berth agent`` process for tests, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

AGENT = [sys.executable, "-m", "berth.cli", "agent"]


class AgentProcess:
    def __init__(self, workdir: Path, *flags: str) -> None:
        self.command = [*AGENT, *flags]
        self.log_path = workdir / f"agent-{os.getpid()}-{id(self)}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> AgentProcess:
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as an init system would; SIGKILL if it does not go."""
        assert self.process is not None
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode
