"""Drive deploy/cassandra/cluster from tests: start, kill, stop, status by PID."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "cassandra" / "cluster"
# Generous: a start may first resolve the jars from Maven Central, and the 2
# cores are shared with the rest of the suite (the script's own limit is 180 s
# per node).
SCRIPT_TIMEOUT = 900


class ScriptCluster:
    """One cluster driven through the deploy/cassandra/cluster command line."""

    def __init__(self, directory: Path, address_base: str, nodes: int):
        self.dir = directory
        self.address_base = address_base
        self.nodes = nodes

    def address(self, index: int) -> str:
        return f"{self.address_base}.{index}"

    @property
    def contact_points(self) -> list[str]:
        return [self.address(i) for i in range(1, self.nodes + 1)]

    def run(self, *args: str) -> str:
        command = [str(SCRIPT), *args, "--dir", str(self.dir)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT)
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def start(self, *args: str) -> str:
        return self.run("start", "--nodes", str(self.nodes), "--address-base", self.address_base, *args)

    def start_node(self, index: int) -> str:
        return self.run("start", "--node", str(index))

    def kill(self, index: int) -> str:
        return self.run("kill", str(index))

    def stop(self) -> str:
        return self.run("stop")

    def status(self) -> list[dict]:
        command = [str(SCRIPT), "status", "--json", "--dir", str(self.dir)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        return json.loads(result.stdout)["nodes"]

    def pid(self, index: int) -> int | None:
        return self.status()[index - 1]["pid"]


def process_is_gone(pid: int) -> bool:
    """True once pid no longer names a live process (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def stop_and_check(cluster: ScriptCluster) -> list[int]:
    """Stop every node by PID and assert no node process remains; return the PIDs."""
    pids = [node["pid"] for node in cluster.status() if node["pid"]]
    cluster.stop()
    left = [pid for pid in pids if not process_is_gone(pid)]
    assert not left, f"node processes {left} still alive after `cluster stop`"
    assert all(node["pid"] is None for node in cluster.status())
    return pids


def require_tools() -> None:
    if shutil.which("java") is None:
        pytest.fail("Cassandra tests need Java 17 (openjdk-17-jre-headless): run scripts/install-system-packages")
    if shutil.which("mvn") is None and not (SCRIPT.parent / "lib" / ".resolved").exists():
        pytest.fail("Cassandra tests need Maven to resolve the server jars: run scripts/install-system-packages")
