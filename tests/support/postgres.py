"""A private PostgreSQL server for tests: its own data directory, bound to
127.0.0.1 on a free port, stopped by PID.

Set BERTH_TEST_POSTGRESQL_URL to use an existing server instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from tests.support.net import free_port


def _bin_dir() -> Path:
    found = shutil.which("pg_config")
    if found:
        path = subprocess.run([found, "--bindir"], capture_output=True, text=True).stdout.strip()
        if (Path(path) / "initdb").exists():
            return Path(path)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return Path(candidates[-1]).parent


class PrivatePostgres:
    """initdb + postgres in a temporary directory, owned by a non-root user
    (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        self.bin_dir = _bin_dir()
        self.workdir = Path(tempfile.mkdtemp(prefix="berth-pg-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.run_as = "postgres" if os.geteuid() == 0 else None

    @property
    def admin_url(self) -> str:
        return f"postgresql://berth@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        data = self.workdir / "data"
        if self.run_as:
            shutil.chown(self.workdir, self.run_as)
        subprocess.run(
            [self.bin_dir / "initdb", "-D", data, "-U", "berth", "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            user=self.run_as,
        )
        log = open(self.workdir / "postgres.log", "wb")
        self.process = subprocess.Popen(
            [
                self.bin_dir / "postgres", "-D", data, "-h", "127.0.0.1", "-p", str(self.port),
                "-k", self.workdir, "-c", "fsync=off", "-c", "max_connections=200",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self.run_as,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.workdir / "postgres.log").read_text())
            try:
                psycopg.connect(self.admin_url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.2)
        raise RuntimeError("PostgreSQL did not start in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def create_database(admin_url: str) -> str:
    """A new empty database; returns its SQLAlchemy URL."""
    name = "berth_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
