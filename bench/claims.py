"""Claims per second and claim latency through the store, on any backend.

Creates a fleet of compute nodes (VCPU, MEMORY_MB) with room for every
claim, then runs C client processes at once for a fixed time; each client
opens its own store (as a berth worker does) and writes claims one after
another: a new consumer, 1 VCPU and 512 MEMORY_MB on a random node,
``expected_generation=None``, i.e. the allocation write of
``PUT /allocations/{consumer}`` at microversion 1.28+. A refused claim (a
consumer or generation conflict) is counted, not retried.

    python bench/claims.py --db sqlite:////tmp/bench.db
    python bench/claims.py --db postgresql://berth@127.0.0.1:5432/bench
    python bench/claims.py --db 'cassandra://127.0.50.1/berth_bench?rf=1'
    python bench/claims.py --db 'cassandra://127.0.60.1,127.0.60.2,127.0.60.3/berth_bench?rf=3' --json

By default it measures 1 and then 8 clients (``--clients 1 --clients 8``).
With ``--json`` each measurement is printed as one JSON object on its own
line (db, clients, claims, refused, seconds, claims_per_s, p50_ms, p99_ms),
so the last line is one JSON object. Figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import random
import statistics
import sys
import time
import uuid as uuidlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from berth.placement import errors  # noqa: E402
from berth.placement.model import ConsumerClaim, Inventory  # noqa: E402
from berth.store import open_store  # noqa: E402


@dataclasses.dataclass(frozen=True, slots=True)
class Measurement:
    db: str
    clients: int
    claims: int
    refused: int
    seconds: float
    claims_per_s: float
    p50_ms: float
    p99_ms: float


@dataclasses.dataclass(frozen=True, slots=True)
class ClientResult:
    latencies_ms: list[float]
    refused: int


def build_fleet(url: str, nodes: int) -> list[str]:
    """Create ``nodes`` compute nodes with room for any run; their uuids."""
    store = open_store(url)
    try:
        store.upgrade()
        run = uuidlib.uuid4().hex[:8]
        uuids = []
        for index in range(nodes):
            uuid = str(uuidlib.uuid4())
            store.create_provider(uuid, f"bench-{run}-{index}")
            store.replace_inventories(
                uuid, 0, {"VCPU": Inventory("VCPU", 1_000_000), "MEMORY_MB": Inventory("MEMORY_MB", 1_000_000_000)}
            )
            uuids.append(uuid)
        return uuids
    finally:
        store.close()


def client(url: str, nodes: list[str], seconds: float, seed: int, ready, results) -> None:
    """One client process: opens its store, warms up, waits for every other
    client at ``ready``, then claims for ``seconds``; puts its result."""
    store = open_store(url)
    rng = random.Random(seed)
    latencies: list[float] = []
    refused = 0
    try:
        # Warm up (connections, prepared statements) before the clock starts.
        _claim(store, rng.choice(nodes))
        ready.wait()
        stop_at = time.perf_counter() + seconds
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            try:
                _claim(store, rng.choice(nodes))
            except (errors.ConcurrentUpdate, errors.InvalidAllocation):
                refused += 1
                continue
            latencies.append((time.perf_counter() - began) * 1000)
    finally:
        store.close()
    results.put(ClientResult(latencies, refused))


def _claim(store, node: str) -> None:
    store.write_allocations([
        ConsumerClaim(
            consumer_uuid=str(uuidlib.uuid4()),
            project_id="bench",
            user_id="bench",
            allocations={node: {"VCPU": 1, "MEMORY_MB": 512}},
            expected_generation=None,
        )
    ])


def measure(url: str, nodes: list[str], clients: int, seconds: float) -> Measurement:
    # Clients start together once every process has opened its store and
    # warmed up: starting a process costs seconds on a loaded machine.
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(clients)
    results = context.Queue()
    processes = [
        context.Process(target=client, args=(url, nodes, seconds, seed, ready, results))
        for seed in range(clients)
    ]
    for process in processes:
        process.start()
    gathered = [results.get(timeout=seconds + 600) for _ in processes]
    for process in processes:
        process.join()
    latencies = sorted(ms for r in gathered for ms in r.latencies_ms)
    done = len(latencies)
    return Measurement(
        db=_redacted(url),
        clients=clients,
        claims=done,
        refused=sum(r.refused for r in gathered),
        seconds=seconds,
        claims_per_s=round(done / seconds, 1),
        p50_ms=round(statistics.median(latencies), 2) if latencies else float("nan"),
        p99_ms=round(latencies[min(done - 1, int(done * 0.99))], 2) if latencies else float("nan"),
    )


def _redacted(url: str) -> str:
    """The URL without a password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        credentials, _, host = rest.partition("@")
        rest = credentials.split(":", 1)[0] + "@" + host
    return scheme + sep + rest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="database URL (sqlite://, postgresql://, cassandra://)")
    parser.add_argument("--clients", type=int, action="append", help="concurrent clients (repeat; default 1 and 8)")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each measurement")
    parser.add_argument("--nodes", type=int, default=50, help="compute nodes the claims spread over")
    parser.add_argument("--json", action="store_true", help="one JSON object per measurement")
    args = parser.parse_args()
    nodes = build_fleet(args.db, args.nodes)
    for clients in args.clients or [1, 8]:
        result = measure(args.db, nodes, clients, args.seconds)
        if args.json:
            print(json.dumps(dataclasses.asdict(result)), flush=True)
        else:
            print(
                f"{result.db}  clients={result.clients}  {result.claims_per_s} claims/s  "
                f"p50={result.p50_ms} ms  p99={result.p99_ms} ms  refused={result.refused}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
