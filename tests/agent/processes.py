"""``berth agent`` and ``berth conductor`` processes for tests, stopped by PID."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

BERTH = [sys.executable, "-m", "berth.cli"]

_numbers = itertools.count()


class BerthProcess:
    """``berth COMMAND FLAGS...``, its output in a log file of the workdir."""

    def __init__(self, workdir: Path, command: str, *flags: str) -> None:
        self.command = [*BERTH, command, *flags]
        self.log_path = workdir / f"{command}-{os.getpid()}-{next(_numbers)}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> BerthProcess:
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

    def __enter__(self) -> BerthProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def agent_process(workdir: Path, *flags: str) -> BerthProcess:
    return BerthProcess(workdir, "agent", *flags)
