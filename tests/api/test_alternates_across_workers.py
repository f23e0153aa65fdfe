"""Alternates issued by one worker of ``berth serve --workers 2`` are
claimed on the other: a real server on 127.0.0.1, requests over fresh
connections, the worker that served each one asked of the kernel
(tests/support/workers.py). Every claim by id succeeds or is a 409 for a
real conflict (two claims at once, or a host that filled up); never a 404.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import random
import threading
import uuid

import pytest

from tests.support.server import BerthServer
from tests.support.workers import serving_process

HEADERS = {
    "x-auth-token": "admin",
    "openstack-api-version": "placement 1.39",
    "content-type": "application/json",
    "accept": "application/json",
}
HOSTS = 6
VCPU_PER_HOST = 8
INSTANCES_PER_BATCH = 4
BATCHES = 4
CLAIMERS = 4
CLAIMS_PER_CLAIMER = 40


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    body: dict
    worker: int | None


class Http:
    """One request per fresh connection, and the worker that served it."""

    def __init__(self, server: BerthServer) -> None:
        self.server = server

    def __call__(self, method: str, path: str, body: dict | None = None) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            connection.connect()
            client_port = connection.sock.getsockname()[1]
            connection.request(method, path, json.dumps(body) if body is not None else None, HEADERS)
            response = connection.getresponse()
            data = response.read()
            # The connection is still open (keep-alive): its worker holds it.
            worker = serving_process(self.server.process.pid, self.server.port, client_port)
        finally:
            connection.close()
        return Answer(response.status, json.loads(data) if data else {}, worker)


@pytest.fixture
def server(tmp_path):
    with BerthServer(f"sqlite:///{tmp_path / 'berth.db'}", tmp_path, workers=2) as running:
        yield running


def _hosts(call: Http) -> list[str]:
    hosts = []
    for index in range(HOSTS):
        rp = str(uuid.uuid4())
        assert call("POST", "/resource_providers", {"uuid": rp, "name": f"host{index}"}).status == 200
        inventory = {"inventories": {"VCPU": {"total": VCPU_PER_HOST}}, "resource_provider_generation": 0}
        assert call("PUT", f"/resource_providers/{rp}/inventories", inventory).status == 200
        hosts.append(rp)
    return hosts


def _issue(call: Http) -> list[tuple[str, int | None]]:
    """(alternate id, worker that issued it) for every alternate of a few batches."""
    issued = []
    for _ in range(BATCHES):
        answer = call("POST", "/selections", {
            "spec": {"project_id": "p", "user_id": "u", "resources": {"VCPU": 1}},
            "num_instances": INSTANCES_PER_BATCH, "num_alternates": 2,
        })
        assert answer.status == 200, answer.body
        for instance in answer.body["selections"]:
            issued += [(alternate["alternate_id"], answer.worker) for alternate in instance["hosts"][1:]]
    return issued


def test_any_worker_claims_an_alternate_any_worker_issued(server):
    call = Http(server)
    hosts = _hosts(call)
    issued = _issue(call)
    answers: list[tuple[int | None, Answer]] = []
    lock = threading.Lock()

    def claimer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(CLAIMS_PER_CLAIMER):
            alternate_id, issuer = rng.choice(issued)
            answer = call("POST", f"/selections/alternates/{alternate_id}/claim")
            with lock:
                answers.append((issuer, answer))

    threads = [threading.Thread(target=claimer, args=(seed,)) for seed in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == CLAIMERS * CLAIMS_PER_CLAIMER
    for _, answer in answers:
        assert answer.status in (200, 409), answer.body
        if answer.status == 409:
            codes = {error["code"] for error in answer.body["errors"]}
            assert codes == {"berth.scheduler.alternate_unavailable"}, answer.body
    assert any(answer.status == 200 for _, answer in answers)
    # Both workers claimed, and alternates were claimed on a worker other
    # than the one that issued them.
    claimers = {answer.worker for _, answer in answers}
    assert len(claimers - {None}) == 2, claimers
    assert any(issuer is not None and answer.worker not in (None, issuer) for issuer, answer in answers)
    # However the claims raced, no host holds more than it has.
    for host in hosts:
        usages = call("GET", f"/resource_providers/{host}/usages").body["usages"]
        assert usages.get("VCPU", 0) <= VCPU_PER_HOST
