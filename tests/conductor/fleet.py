"""A fleet of real processes on 127.0.0.1 for end-to-end builds: one
``berth serve``, ``berth conductor`` processes and ``berth agent``
processes with the fake driver, over one SQLite file; every process is
stopped by PID. Used by tests/conductor/ and bench/builds.py."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid as uuidlib
from collections.abc import Sequence
from pathlib import Path

import httpx

from berth.agent.tree import provider_uuid
from tests.support.server import BerthServer

BERTH = [sys.executable, "-m", "berth.cli"]
HEADERS = {"x-auth-token": "admin", "OpenStack-API-Version": "placement 1.39"}
SETTLED = {"ACTIVE", "ERROR", "DELETED"}
# The project the fleet's builds are for, so that GET /usages sums them.
PROJECT = "fleet-project"


@dataclasses.dataclass(frozen=True)
class HostSpec:
    name: str
    cell: str
    vcpu: int = 64


@dataclasses.dataclass(frozen=True)
class DriverSpec:
    """The fake driver's options, the same on every agent."""

    failure_rate: float = 0.0
    seed: int = 0
    latency: float = 0.0


class Process:
    """A berth command in a session of its own, stopped by PID."""

    def __init__(self, command: Sequence[str], log_path: Path) -> None:
        self.command = list(command)
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> Process:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to finish or clean up anything."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


class Fleet:
    def __init__(
        self, workdir: Path, hosts: Sequence[HostSpec], driver: DriverSpec = DriverSpec(),
        lease_ttl: float = 30.0, attempt_timeout: float = 600.0,
    ) -> None:
        self.workdir = workdir
        self.database = f"sqlite:///{workdir / 'berth.db'}"
        self.hosts = tuple(hosts)
        self.driver = driver
        self.lease_ttl = lease_ttl
        self.attempt_timeout = attempt_timeout
        self.server = BerthServer(self.database, workdir)
        self.conductors: list[Process] = []
        self.agents: list[Process] = []
        self.http: httpx.Client | None = None

    # -- processes ------------------------------------------------------------------

    def start(self, conductors: int = 1) -> Fleet:
        self.server.start()
        self.http = httpx.Client(base_url=self.server.url, headers=HEADERS, timeout=60)
        for host in self.hosts:
            self.agents.append(Process([
                *BERTH, "agent", "--name", host.name, "--cell", host.cell, "--vcpu", str(host.vcpu),
                "--memory-mb", str(host.vcpu * 1024), "--disk-gb", str(host.vcpu * 10),
                "--url", self.server.url, "--poll-interval", "0.05", "--build-workers", "8",
                "--failure-rate", str(self.driver.failure_rate), "--failure-seed", str(self.driver.seed),
                "--build-latency", str(self.driver.latency), "--log-level", "WARNING",
            ], self.workdir / f"agent-{host.name}.log").start())
        for _ in range(conductors):
            self.start_conductor()
        self._wait_for_hosts()
        return self

    def start_conductor(self) -> Process:
        conductor = Process([
            *BERTH, "conductor", "--db", self.database, "--lease-ttl", str(self.lease_ttl),
            "--idle-sleep", "0.05", "--attempt-timeout", str(self.attempt_timeout),
        ], self.workdir / f"conductor-{len(self.conductors)}.log").start()
        self.conductors.append(conductor)
        return conductor

    def stop(self) -> None:
        for process in [*self.conductors, *self.agents]:
            process.stop()
        if self.http is not None:
            self.http.close()
        self.server.stop()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait_for_hosts(self, timeout: float = 120) -> None:
        """Until every agent's root provider has its cell (its last write)."""
        deadline = time.monotonic() + timeout
        pending = {self.root(h) for h in self.hosts}
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"agents did not register: {sorted(pending)}")
            for uuid in sorted(pending):
                answer = self.http.get(f"/resource_providers/{uuid}/cell")
                if answer.status_code == 200 and answer.json()["cell"] is not None:
                    inventory = self.http.get(f"/resource_providers/{uuid}/inventories")
                    if inventory.status_code == 200 and inventory.json()["inventories"]:
                        pending.discard(uuid)
            time.sleep(0.1)

    # -- builds ------------------------------------------------------------------------

    @staticmethod
    def root(host: HostSpec) -> str:
        return provider_uuid(host.name)

    def submit(
        self, num_instances: int, num_alternates: int, instance_uuids: Sequence[str] = (),
        cell: str | None = None,
    ) -> str:
        spec: dict = {"project_id": PROJECT, "user_id": "fleet-user", "resources": {"VCPU": 1}}
        if instance_uuids:
            spec["instance_uuids"] = list(instance_uuids)
        if cell:
            spec["hints"] = {"cell": cell}
        answer = self.http.post("/builds", json={
            "request_spec": spec, "num_instances": num_instances, "num_alternates": num_alternates,
        })
        if answer.status_code != 202:
            raise RuntimeError(f"POST /builds: {answer.status_code} {answer.text}")
        return answer.json()["id"]

    def build(self, build_id: str) -> dict:
        return self.http.get(f"/builds/{build_id}").json()

    def wait_settled(self, build_ids: Sequence[str], timeout: float = 300) -> list[dict]:
        """Every instance ACTIVE, ERROR or DELETED; the builds then."""
        deadline = time.monotonic() + timeout
        while True:
            builds = [self.build(b) for b in build_ids]
            if all(i["state"] in SETTLED for b in builds for i in b["instances"]):
                return builds
            if time.monotonic() > deadline:
                states = [i["state"] for b in builds for i in b["instances"]]
                stuck = [i for b in builds for i in b["instances"] if i["state"] not in SETTLED]
                raise AssertionError(
                    f"builds not settled after {timeout}s: {states}\nunsettled: {stuck}\n{self.log_tails()}"
                )
            time.sleep(0.2)

    def log_tails(self, lines: int = 40) -> str:
        """The last lines of every process's log, for a failure message."""
        tails = []
        for path in sorted(self.workdir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            if text:
                tails.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(tails)

    def vcpu_used(self) -> int:
        """VCPU held by the fleet's project, every consumer type (from
        1.38 the usages are grouped by consumer type)."""
        groups = self.http.get(f"/usages?project_id={PROJECT}").json()["usages"]
        return sum(group.get("VCPU", 0) for group in groups.values())

    def allocations_of(self, consumer: str) -> dict:
        return self.http.get(f"/allocations/{consumer}").json()["allocations"]


def instance_uuids(count: int, label: str) -> list[str]:
    """Fixed uuids, so that the fake driver (which decides by a hash of the
    instance and the attempt) fails the same attempts on every run."""
    namespace = uuidlib.UUID("0c7c5f36-8a2d-4c44-9f0e-3b1e2d6a9b10")
    return [str(uuidlib.uuid5(namespace, f"{label}/{n}")) for n in range(count)]
