"""What the benchmarks share: servers on 127.0.0.1 stopped by PID, and
percentiles."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def reference_speed(seconds: float = 1.0) -> int:
    """Rounds per second of a fixed pure-Python loop on one core: how fast
    this machine runs Python at the moment. Its speed changes with what
    else its host runs (by half, at times), so runs of a benchmark are
    compared alongside this figure."""
    rounds = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        total = 0
        for number in range(1000):
            total += number * number
        rounds += 1
    return round(rounds / (time.perf_counter() - started))


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def p99(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


class ServerProcess:
    """A server command in a session of its own (so its workers stop with
    it), ready once ``GET /`` answers 200; stopped by its process group."""

    def __init__(
        self, argv: Sequence[str], port: int, log_path: Path,
        env: Mapping[str, str] | None = None, ready_timeout: float = 180,
    ) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            list(argv), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=ROOT, env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited; see {log_path}")
            try:
                if httpx.get(self.base + "/", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{argv[0]} did not answer in time; see {log_path}")

    def rss_mib(self) -> float:
        """Resident memory of the server and its workers, summed."""
        total_kib = 0
        for pid in self._pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                continue
            total_kib += next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
        return total_kib / 1024

    def _pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == self.process.pid:
                        pids.append(int(entry.name))
                except ProcessLookupError:
                    pass
        return pids

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def berth_server(database_url: str, workdir: Path, workers: int = 1, config: Path | None = None) -> ServerProcess:
    port = free_port()
    argv = [sys.executable, "-m", "berth.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--db", database_url, "--workers", str(workers)]
    if config is not None:
        argv += ["--config", str(config)]
    return ServerProcess(argv, port, workdir / f"berth-{port}.log")
