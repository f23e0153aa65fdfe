"""Many client processes claim the same few providers over real HTTP.

The invariant checked while they run and at the end: no provider's usage of
a class ever exceeds ``(total - reserved) * allocation_ratio``; every refused
write is a 409 for a generation conflict or for capacity; every acknowledged
allocation is there at the end.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import random
import threading
import time
import uuid

import httpx
import pytest

from tests.support.server import BerthServer

HEADERS = {"x-auth-token": "admin", "openstack-api-version": "placement 1.38"}
PROVIDERS = 3
VCPU_TOTAL = 20
CLIENTS = 6
OPERATIONS_PER_CLIENT = 120


@dataclasses.dataclass
class ClientReport:
    held: dict[str, dict[str, int]]  # own consumer -> {provider: VCPU} acknowledged last
    # Acknowledged read-modify-writes of shared consumers:
    # (consumer, generation the write produced, {provider: VCPU}).
    shared_writes: list[tuple[str, int, dict[str, int]]] = dataclasses.field(default_factory=list)
    acknowledged: int = 0
    refusals: list[tuple[int, str, str]] = dataclasses.field(default_factory=list)


def _body(consumer_allocations: dict[str, int], generation):
    return {
        "allocations": {rp: {"resources": {"VCPU": n}} for rp, n in consumer_allocations.items()},
        "consumer_generation": generation,
        "project_id": "p",
        "user_id": "u",
        "consumer_type": "INSTANCE",
    }


def _rewrite_shared(http: httpx.Client, consumer: str, wanted: dict[str, int], report: ClientReport) -> None:
    """Read a shared consumer, then write it back changed, naming the
    generation read: racing clients must get 409 concurrent_update."""
    generation = http.get(f"/allocations/{consumer}").json()["consumer_generation"]
    response = http.put(f"/allocations/{consumer}", json=_body(wanted, generation))
    if response.status_code == 204:
        report.acknowledged += 1
        report.shared_writes.append((consumer, generation + 1, wanted))
    else:
        error = response.json()["errors"][0]
        report.refusals.append((response.status_code, error.get("code", ""), error["detail"]))


def _client(url: str, providers: list[str], shared: list[str], seed: int, queue) -> None:
    rng = random.Random(seed)
    report = ClientReport(held={})
    generations: dict[str, int] = {}
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as http:
        for _ in range(OPERATIONS_PER_CLIENT):
            action = rng.random()
            if action < 0.25:
                _rewrite_shared(http, rng.choice(shared), {rng.choice(providers): 1}, report)
                continue
            if action < 0.7 or not report.held:
                consumer = str(uuid.uuid4())
                wanted = {rng.choice(providers): rng.randint(1, 2)}
                response = http.put(f"/allocations/{consumer}", json=_body(wanted, None))
                expected_after = wanted
            elif action < 0.85:
                consumer = rng.choice(list(report.held))
                wanted = {rng.choice(providers): rng.randint(1, 3)}
                body = {consumer: _body(wanted, generations[consumer])}
                response = http.post("/allocations", json=body)
                expected_after = wanted
            else:
                consumer = rng.choice(list(report.held))
                response = http.delete(f"/allocations/{consumer}")
                expected_after = None
            if response.status_code in (200, 204):
                report.acknowledged += 1
                if expected_after is None:
                    report.held.pop(consumer)
                    generations.pop(consumer)
                else:
                    report.held[consumer] = expected_after
                    generations[consumer] = generations.get(consumer, 0) + 1
            else:
                error = response.json()["errors"][0]
                report.refusals.append((response.status_code, error.get("code", ""), error["detail"]))
    queue.put(dataclasses.asdict(report))


def _usage_and_capacity(http: httpx.Client, rp: str) -> tuple[int, float]:
    usage = http.get(f"/resource_providers/{rp}/usages").json()["usages"].get("VCPU", 0)
    inventory = http.get(f"/resource_providers/{rp}/inventories/VCPU").json()
    return usage, (inventory["total"] - inventory["reserved"]) * inventory["allocation_ratio"]


@pytest.fixture
def server(tmp_path):
    with BerthServer(f"sqlite:///{tmp_path / 'berth.db'}", tmp_path, workers=2) as running:
        yield running


def _make_providers(http: httpx.Client) -> list[str]:
    uuids = []
    for index in range(PROVIDERS):
        rp = str(uuid.uuid4())
        assert http.post("/resource_providers", json={"uuid": rp, "name": f"cn{index}"}).status_code == 200
        inventory = {"inventories": {"VCPU": {"total": VCPU_TOTAL, "max_unit": 4}}, "resource_provider_generation": 0}
        assert http.put(f"/resource_providers/{rp}/inventories", json=inventory).status_code == 200
        uuids.append(rp)
    return uuids


def _make_shared_consumers(http: httpx.Client, providers: list[str]) -> list[str]:
    shared = [str(uuid.uuid4()) for _ in range(4)]
    for consumer in shared:
        response = http.put(f"/allocations/{consumer}", json=_body({providers[0]: 1}, None))
        assert response.status_code == 204
    return shared


def _check_shared_consumers(http: httpx.Client, shared: list[str], reports: list[dict]) -> None:
    """Generations make the history of each shared consumer a sequence: no
    two acknowledged writes produced the same generation (a lost update), and
    the newest acknowledged write is what the consumer holds."""
    writes = [w for report in reports for w in report["shared_writes"]]
    for consumer in shared:
        mine = sorted((g, held) for c, g, held in writes if c == consumer)
        generations = [g for g, _ in mine]
        assert len(generations) == len(set(generations)), f"lost update on {consumer}"
        body = http.get(f"/allocations/{consumer}").json()
        assert body["consumer_generation"] == (generations[-1] if mine else 1)
        if mine:
            assert {rp: a["resources"]["VCPU"] for rp, a in body["allocations"].items()} == mine[-1][1]


def test_concurrent_claims_never_exceed_capacity(server):
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=60) as http:
        providers = _make_providers(http)
        shared = _make_shared_consumers(http, providers)
        violations: list[str] = []
        done = threading.Event()

        def checkpoints():
            while not done.is_set():
                for rp in providers:
                    used, capacity = _usage_and_capacity(http, rp)
                    if used > capacity:
                        violations.append(f"{rp}: {used} > {capacity}")
                time.sleep(0.05)

        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        clients = [
            context.Process(target=_client, args=(server.url, providers, shared, seed, queue)) for seed in range(CLIENTS)
        ]
        watcher = threading.Thread(target=checkpoints)
        watcher.start()
        for client in clients:
            client.start()
        reports = [queue.get(timeout=600) for _ in clients]
        for client in clients:
            client.join()
        done.set()
        watcher.join()

        assert violations == []
        refusals = [r for report in reports for r in report["refusals"]]
        for status, code, detail in refusals:
            assert status == 409, (status, code, detail)
            assert code == "placement.concurrent_update" or "exceed the capacity" in detail, (code, detail)
        assert any("exceed the capacity" in detail for _, _, detail in refusals), "the run never filled a provider"
        assert any(code == "placement.concurrent_update" for _, code, _ in refusals), "no write ever raced"
        _check_shared_consumers(http, shared, reports)

        expected_usage = {rp: 0 for rp in providers}
        for consumer in shared:
            for rp, held in http.get(f"/allocations/{consumer}").json()["allocations"].items():
                expected_usage[rp] += held["resources"]["VCPU"]
        for report in reports:
            for consumer, held in report["held"].items():
                body = http.get(f"/allocations/{consumer}").json()["allocations"]
                assert {rp: a["resources"]["VCPU"] for rp, a in body.items()} == held
                for rp, amount in held.items():
                    expected_usage[rp] += amount
        for rp in providers:
            used, capacity = _usage_and_capacity(http, rp)
            assert used == expected_usage[rp] <= capacity
