"""GET /allocation_candidates latency over HTTP, at N providers.

Loads two fleets into two SQLite databases, serves each with a real berth
server on 127.0.0.1 (stopped by its PID at the end), and times requests
one after another from this process:

- the flat fleet: N compute nodes with VCPU, MEMORY_MB and DISK_GB, half of
  them with HW_CPU_X86_AVX2, spread over 8 aggregates, about 5% with an
  instance on them;
- the nested fleet, about N providers in all: trees of a compute node, two
  NUMA cells (VCPU, MEMORY_MB) and one NIC physical function under each
  (SRIOV_NET_VF, on physnet A or B), plus 4 sharing storage providers
  (DISK_GB, MISC_SHARES_VIA_AGGREGATE) each sharing with a quarter of them.

    python bench/candidates.py                      # N = 1,000, 10,000, 100,000
    python bench/candidates.py --providers 10000 --json

With ``--json`` the last line is one JSON object for the last N measured.
Figures on this machine are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import tempfile
import time
import uuid as uuidlib
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

# Run as a script, this file's directory is on sys.path, not the repository.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import berth_server, median, p99  # noqa: E402
from berth.placement.model import ConsumerClaim, Inventory, ProviderRegistration  # noqa: E402
from berth.store import open_store  # noqa: E402
HEADERS = {"x-auth-token": "admin", "openstack-api-version": "placement 1.39"}
AGGREGATES = [str(uuidlib.UUID(int=i + 1)) for i in range(8)]
FLAT_REQUEST = "resources=VCPU:2,MEMORY_MB:4096,DISK_GB:20"
NESTED_REQUEST = (
    "resources=DISK_GB:20"
    "&resources_COMPUTE=VCPU:2,MEMORY_MB:2048"
    "&resources_NET=SRIOV_NET_VF:1&required_NET=CUSTOM_PHYSNET_A"
    "&same_subtree=_COMPUTE,_NET&group_policy=none"
)
console = Console(stderr=True)


@dataclasses.dataclass(frozen=True)
class Query:
    name: str
    fleet: str
    query: str
    repeats: int


@dataclasses.dataclass(frozen=True)
class Timing:
    query: Query
    candidates: int
    median_ms: float
    p99_ms: float


# -- loading --------------------------------------------------------------------


def _compute_node(rng: random.Random, index: int) -> ProviderRegistration:
    traits = {"HW_CPU_X86_AVX2"} if index % 2 == 0 else {"HW_CPU_X86_SSE42"}
    return ProviderRegistration(
        str(uuidlib.uuid4()), f"compute-{index}",
        inventories={
            "VCPU": Inventory("VCPU", rng.choice([16, 32, 64]), allocation_ratio=4.0),
            "MEMORY_MB": Inventory("MEMORY_MB", rng.choice([65536, 131072]), reserved=512),
            "DISK_GB": Inventory("DISK_GB", rng.choice([500, 1000]), reserved=10),
        },
        traits=frozenset(traits),
        aggregates=frozenset({AGGREGATES[index % len(AGGREGATES)]}),
    )


def _nested_tree(rng: random.Random, index: int) -> list[ProviderRegistration]:
    root = ProviderRegistration(
        str(uuidlib.uuid4()), f"host-{index}",
        traits=frozenset({"HW_CPU_X86_AVX2"}),
        aggregates=frozenset({AGGREGATES[index % 4]}),
    )
    tree = [root]
    for cell in range(2):
        numa = ProviderRegistration(
            str(uuidlib.uuid4()), f"host-{index}-numa{cell}", parent_uuid=root.uuid,
            inventories={
                "VCPU": Inventory("VCPU", rng.choice([8, 16]), allocation_ratio=2.0),
                "MEMORY_MB": Inventory("MEMORY_MB", 32768),
            },
        )
        nic = ProviderRegistration(
            str(uuidlib.uuid4()), f"host-{index}-pf{cell}", parent_uuid=numa.uuid,
            inventories={"SRIOV_NET_VF": Inventory("SRIOV_NET_VF", 8)},
            traits=frozenset({"CUSTOM_PHYSNET_A" if cell == 0 else "CUSTOM_PHYSNET_B"}),
        )
        tree += [numa, nic]
    return tree


def _sharing_storage(index: int) -> ProviderRegistration:
    return ProviderRegistration(
        str(uuidlib.uuid4()), f"storage-{index}",
        inventories={"DISK_GB": Inventory("DISK_GB", 1_000_000)},
        traits=frozenset({"MISC_SHARES_VIA_AGGREGATE"}),
        aggregates=frozenset({AGGREGATES[index]}),
    )


def load_flat(url: str, providers: int, seed: int) -> None:
    rng = random.Random(seed)
    store = open_store(url)
    store.upgrade()
    nodes = [_compute_node(rng, i) for i in range(providers)]
    store.register_providers(nodes)
    # Some usage, so that free capacity differs between hosts.
    for node in rng.sample(nodes, min(len(nodes) // 20, 2000)):
        store.write_allocations([ConsumerClaim(
            consumer_uuid=str(uuidlib.uuid4()), project_id="bench", user_id="bench",
            allocations={node.uuid: {"VCPU": 4, "MEMORY_MB": 8192, "DISK_GB": 40}},
        )])
    store.close()


def load_nested(url: str, providers: int, seed: int) -> None:
    rng = random.Random(seed)
    store = open_store(url)
    store.upgrade()
    store.ensure_trait("CUSTOM_PHYSNET_A")
    store.ensure_trait("CUSTOM_PHYSNET_B")
    registrations = [_sharing_storage(i) for i in range(4)]
    for index in range(max(1, providers // 5)):
        registrations += _nested_tree(rng, index)
    store.register_providers(registrations)
    store.close()


# -- serving and timing ---------------------------------------------------------


def time_query(client: httpx.Client, base: str, query: Query) -> Timing:
    url = f"{base}/allocation_candidates?{query.query}"
    samples = []
    candidates = 0
    for attempt in range(query.repeats + 2):
        start = time.perf_counter()
        response = client.get(url, headers=HEADERS)
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{query.name}: {response.status_code} {response.text[:300]}")
        candidates = len(response.json()["allocation_requests"])
        if attempt >= 2:  # the first two warm the index and the connection
            samples.append(elapsed)
    return Timing(query, candidates, median(samples), p99(samples))


def queries(providers: int, repeats: int) -> list[Query]:
    whole = max(3, min(repeats, 200_000 // max(providers, 1)))
    return [
        Query("limit50", "flat", f"{FLAT_REQUEST}&limit=50", repeats),
        Query("all", "flat", FLAT_REQUEST, whole),
        Query("trait_limit50", "flat", f"{FLAT_REQUEST}&required=HW_CPU_X86_AVX2&limit=50", repeats),
        Query("nested_granular_limit50", "nested", f"{NESTED_REQUEST}&limit=50", repeats),
        Query("nested_granular_all", "nested", NESTED_REQUEST, whole),
    ]


def measure(providers: int, repeats: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as tmp:
        workdir = Path(tmp)
        urls = {name: f"sqlite:///{workdir / name}.db" for name in ("flat", "nested")}
        started = time.perf_counter()
        load_flat(urls["flat"], providers, seed)
        load_nested(urls["nested"], providers, seed)
        console.log(f"{providers} providers loaded in {time.perf_counter() - started:.1f} s")
        timings: list[Timing] = []
        rss: dict[str, float] = {}
        for fleet, url in urls.items():
            server = berth_server(url, workdir)
            try:
                with httpx.Client(timeout=600) as client:
                    for query in queries(providers, repeats):
                        if query.fleet == fleet:
                            timings.append(time_query(client, server.base, query))
                rss[fleet] = server.rss_mib()
            finally:
                server.stop()
    return report(providers, timings, rss)


def report(providers: int, timings: list[Timing], rss: dict[str, float]) -> dict:
    table = Table(title=f"GET /allocation_candidates, {providers:,} providers")
    for column in ("query", "fleet", "candidates", "median ms", "p99 ms"):
        table.add_column(column, justify="left" if column in ("query", "fleet") else "right")
    for t in timings:
        table.add_row(t.query.name, t.query.fleet, str(t.candidates), f"{t.median_ms:.1f}", f"{t.p99_ms:.1f}")
    Console().print(table)
    print(f"server RSS: flat {rss['flat']:.0f} MiB, nested {rss['nested']:.0f} MiB")
    by_name = {t.query.name: t for t in timings}
    figures: dict = {"providers": providers, "server_rss_mib": round(max(rss.values()), 1)}
    for name, t in by_name.items():
        figures[f"median_ms_{name}"] = round(t.median_ms, 2)
        figures[f"p99_ms_{name}"] = round(t.p99_ms, 2)
        figures[f"candidates_{name}"] = t.candidates
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, action="append",
                        help="fleet size (repeatable; default 1000, 10000, 100000)")
    parser.add_argument("--repeats", type=int, default=200, help="timed requests per limited query")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    args = parser.parse_args()
    figures = {}
    for providers in args.providers or [1_000, 10_000, 100_000]:
        figures = measure(providers, args.repeats, args.seed)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
