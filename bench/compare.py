"""berth beside OpenStack Placement 16.0.0: same machine, same data, same
requests, in one run.

Both services are loaded through their HTTP API only, with the same fleet
(compute nodes with VCPU, MEMORY_MB and DISK_GB, traits and aggregates; and
a nested fleet of NUMA cells and NIC functions with sharing storage), then
measured with their samples interleaved, so that anything else the machine
does weighs on both alike:

- GET /allocation_candidates: with and without limit, with a required
  trait, and a granular request on the nested fleet (median and p99);
- claims: PUT /allocations for new consumers from the candidates, with 1
  and 8 concurrent clients, counting conflicts;
- GET /resource_providers?resources=...; GET /usages of a project whose
  2,000 consumers are written alike to both (write_usage_consumers).

Placement runs in its own virtualenv (bench/peer/placement.py) under
gunicorn on PostgreSQL (on SQLite it fails with "database is locked" as soon
as it has two workers); berth runs on its embedded default, SQLite. Both get
two worker processes and randomised candidates.

    python bench/compare.py --providers 1000 --providers 10000
    python bench/compare.py --providers 1000 --json

The table is printed and written into docs/benchmarks.md with the machine,
the date and the command. With ``--json`` the last line is one JSON object:
for each figure, berth's value, Placement's and the ratio, which always says
how many times better berth is (Placement's time over berth's, berth's rate
over Placement's).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import json
import os
import platform
import random
import re
import shlex
import sys
import tempfile
import threading
import time
import uuid as uuidlib
from collections.abc import Iterable
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

# Run as a script, this file's directory is on sys.path, not the repository.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.peer.placement import serve_placement  # noqa: E402
from bench.support import ROOT, ServerProcess, berth_server, median, p99  # noqa: E402
from tests.support.postgres import PrivatePostgres, create_database  # noqa: E402

HEADERS = {"x-auth-token": "admin", "openstack-api-version": "placement 1.39",
           "content-type": "application/json"}
AGGREGATES = [str(uuidlib.UUID(int=i + 1)) for i in range(8)]
FLAT = "resources=VCPU:2,MEMORY_MB:4096,DISK_GB:20"
NESTED = (
    "resources=DISK_GB:20&resources_COMPUTE=VCPU:2,MEMORY_MB:2048"
    "&resources_NET=SRIOV_NET_VF:1&required_NET=CUSTOM_PHYSNET_A"
    "&same_subtree=_COMPUTE,_NET&group_policy=none"
)
LOADERS = 8
CLAIM = {"VCPU": 1, "MEMORY_MB": 256}
SERVICES = ("berth", "placement")
# GET /usages is measured on a project holding these many consumers, the
# same in both services (write_usage_consumers).
USAGE_PROJECT = "usages-bench"
USAGE_CONSUMERS = 2_000
USAGE_BATCH = 100
console = Console(stderr=True)


# -- the fleet, as HTTP requests -----------------------------------------------


@dataclasses.dataclass(frozen=True)
class Provider:
    uuid: str
    name: str
    parent: str | None = None
    inventories: dict = dataclasses.field(default_factory=dict)
    traits: tuple[str, ...] = ()
    aggregates: tuple[str, ...] = ()


def fleet(providers: int, seed: int) -> list[list[Provider]]:
    """Trees (a list of providers, parents first) of both fleets."""
    rng = random.Random(seed)
    trees = []
    for index in range(providers):
        trees.append([Provider(
            str(uuidlib.uuid4()), f"compute-{index}",
            inventories={
                "VCPU": {"total": rng.choice([16, 32, 64]), "allocation_ratio": 4.0},
                "MEMORY_MB": {"total": rng.choice([65536, 131072]), "reserved": 512},
                "DISK_GB": {"total": rng.choice([500, 1000]), "reserved": 10},
            },
            traits=("HW_CPU_X86_AVX2",) if index % 2 == 0 else ("HW_CPU_X86_SSE42",),
            aggregates=(AGGREGATES[index % 8],),
        )])
    for index in range(4):
        trees.append([Provider(
            str(uuidlib.uuid4()), f"storage-{index}", inventories={"DISK_GB": {"total": 1_000_000}},
            traits=("MISC_SHARES_VIA_AGGREGATE",), aggregates=(AGGREGATES[index],),
        )])
    for index in range(max(1, providers // 5)):
        root = Provider(str(uuidlib.uuid4()), f"host-{index}", traits=("HW_CPU_X86_AVX2",),
                        aggregates=(AGGREGATES[index % 4],))
        tree = [root]
        for cell in range(2):
            numa = Provider(str(uuidlib.uuid4()), f"host-{index}-numa{cell}", root.uuid, {
                "VCPU": {"total": rng.choice([8, 16]), "allocation_ratio": 2.0},
                "MEMORY_MB": {"total": 32768},
            })
            nic = Provider(str(uuidlib.uuid4()), f"host-{index}-pf{cell}", numa.uuid,
                           {"SRIOV_NET_VF": {"total": 8}},
                           traits=(f"CUSTOM_PHYSNET_{'AB'[cell]}",))
            tree += [numa, nic]
        trees.append(tree)
    return trees


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.method} {response.request.url}: "
                           f"{response.status_code} {response.text[:300]}")
    return response


def register(client: httpx.Client, provider: Provider) -> None:
    body = {"uuid": provider.uuid, "name": provider.name}
    if provider.parent:
        body["parent_provider_uuid"] = provider.parent
    generation = _checked(client.post("/resource_providers", json=body)).json()["generation"]
    base = f"/resource_providers/{provider.uuid}"
    if provider.inventories:
        generation = _checked(client.put(f"{base}/inventories", json={
            "resource_provider_generation": generation, "inventories": provider.inventories,
        })).json()["resource_provider_generation"]
    if provider.traits:
        generation = _checked(client.put(f"{base}/traits", json={
            "resource_provider_generation": generation, "traits": list(provider.traits),
        })).json()["resource_provider_generation"]
    if provider.aggregates:
        _checked(client.put(f"{base}/aggregates", json={
            "resource_provider_generation": generation, "aggregates": list(provider.aggregates),
        }))


def load(base: str, trees: list[list[Provider]]) -> float:
    """Register every tree with LOADERS concurrent clients; seconds taken."""
    started = time.perf_counter()
    with httpx.Client(base_url=base, headers=HEADERS, timeout=120) as client:
        for trait in ("CUSTOM_PHYSNET_A", "CUSTOM_PHYSNET_B"):
            _checked(client.put(f"/traits/{trait}"))
    local = threading.local()

    def register_tree(tree: list[Provider]) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base, headers=HEADERS, timeout=120)
        for provider in tree:
            register(local.client, provider)

    with concurrent.futures.ThreadPoolExecutor(LOADERS) as pool:
        for done in pool.map(register_tree, trees):
            pass
    return time.perf_counter() - started


# -- measuring ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    berth: float
    placement: float
    higher_is_better: bool = False
    # Counts (conflicts) are reported side by side, not as a ratio.
    compared: bool = True

    @property
    def ratio(self) -> float | None:
        """How many times better berth is."""
        if not self.compared or not (self.berth and self.placement):
            return None
        if self.higher_is_better:
            return self.berth / self.placement
        return self.placement / self.berth

    @property
    def ratio_text(self) -> str:
        return "-" if self.ratio is None else f"{self.ratio:.1f}x"


def interleaved_latency(
    clients: dict[str, httpx.Client], path: str, repeats: int, version: str
) -> dict[str, list[float]]:
    """Samples of GET ``path`` in ms, one service after the other."""
    samples: dict[str, list[float]] = {name: [] for name in clients}
    headers = {"openstack-api-version": f"placement {version}"}
    for attempt in range(repeats + 2):
        for name, client in clients.items():
            start = time.perf_counter()
            _checked(client.get(path, headers=headers))
            if attempt >= 2:  # two warm-ups: caches, indexes, connections
                samples[name].append((time.perf_counter() - start) * 1000)
    return samples


def latency_figures(
    name: str, clients: dict[str, httpx.Client], path: str, repeats: int, version: str = "1.39"
) -> list[Figure]:
    samples = interleaved_latency(clients, path, repeats, version)
    return [
        Figure(f"{name}_median_ms", "ms", median(samples["berth"]), median(samples["placement"])),
        Figure(f"{name}_p99_ms", "ms", p99(samples["berth"]), p99(samples["placement"])),
    ]


@dataclasses.dataclass
class ClaimRun:
    claims: int = 0
    conflicts: int = 0
    seconds: float = 0.0


def _claimer(base: str, number: int, seconds: float, project: str) -> tuple[int, int]:
    """One client (a process of its own): claims new consumers on random
    candidates for ``seconds``; a conflict (409) moves on to another."""
    rng = random.Random(number)
    claims = conflicts = 0
    with httpx.Client(base_url=base, headers=HEADERS, timeout=120) as client:
        query = "/allocation_candidates?resources=VCPU:1,MEMORY_MB:256&limit=200"
        body = _checked(client.get(query)).json()
        hosts = [next(iter(a["allocations"])) for a in body["allocation_requests"]]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            response = client.put(f"/allocations/{uuidlib.uuid4()}", json={
                "allocations": {rng.choice(hosts): {"resources": CLAIM}},
                "consumer_generation": None, "project_id": project, "user_id": "bench",
                "consumer_type": "INSTANCE",
            })
            if response.status_code == 204:
                claims += 1
            elif response.status_code == 409:
                conflicts += 1
            else:
                _checked(response)
    return claims, conflicts


def claim_for(base: str, clients: int, seconds: float, project: str) -> ClaimRun:
    """``clients`` concurrent claimer processes for ``seconds``."""
    started = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(clients) as pool:
        results = list(pool.map(_claimer, [base] * clients, range(clients),
                                [seconds] * clients, [project] * clients))
    return ClaimRun(
        claims=sum(claims for claims, _ in results),
        conflicts=sum(conflicts for _, conflicts in results),
        seconds=time.perf_counter() - started,
    )


def claim_figures(bases: dict[str, str], seconds: float) -> list[Figure]:
    figures = []
    for clients in (1, 8):
        runs = {name: claim_for(base, clients, seconds, "bench") for name, base in bases.items()}
        figures.append(Figure(
            f"claims_{clients}_clients_per_s", "/s",
            runs["berth"].claims / runs["berth"].seconds,
            runs["placement"].claims / runs["placement"].seconds, higher_is_better=True,
        ))
        figures.append(Figure(
            f"claims_{clients}_clients_conflicts", "", runs["berth"].conflicts,
            runs["placement"].conflicts, compared=False,
        ))
    return figures


def write_usage_consumers(base: str, nodes: list[Provider]) -> None:
    """USAGE_CONSUMERS consumers of USAGE_PROJECT, the same ones in both
    services, written with POST /allocations in batches. The claims runs
    leave each service a different number of consumers in their project
    (as many as each could claim), so GET /usages is asked about this one."""
    headers = {"openstack-api-version": "placement 1.38"}
    with httpx.Client(base_url=base, headers=HEADERS, timeout=600) as client:
        for first in range(0, USAGE_CONSUMERS, USAGE_BATCH):
            body = {
                str(uuidlib.UUID(int=(1 << 64) + number)): {
                    "allocations": {nodes[number % len(nodes)].uuid: {"resources": CLAIM}},
                    "consumer_generation": None, "project_id": USAGE_PROJECT, "user_id": "bench",
                    "consumer_type": "INSTANCE",
                }
                for number in range(first, min(first + USAGE_BATCH, USAGE_CONSUMERS))
            }
            _checked(client.post("/allocations", json=body, headers=headers))


def measure(
    bases: dict[str, str], fleet_trees: list[list[Provider]], repeats: int, claim_seconds: float,
) -> list[Figure]:
    providers = sum(1 for tree in fleet_trees if tree[0].name.startswith("compute-"))
    clients = {name: httpx.Client(base_url=base, headers=HEADERS, timeout=600) for name, base in bases.items()}
    whole = max(3, min(repeats, 20_000 // providers))
    try:
        figures = []
        for name, path, count in [
            ("candidates_limit50", f"/allocation_candidates?{FLAT}&limit=50", repeats),
            ("candidates_all", f"/allocation_candidates?{FLAT}", whole),
            ("candidates_trait_limit50", f"/allocation_candidates?{FLAT}&required=HW_CPU_X86_AVX2&limit=50", repeats),
            ("candidates_nested_granular_limit50", f"/allocation_candidates?{NESTED}&limit=50", repeats),
            ("resource_providers_with_resources", "/resource_providers?resources=VCPU:2,MEMORY_MB:4096", whole),
        ]:
            console.log(f"measuring {name}")
            figures += latency_figures(name, clients, path, count)
        console.log("measuring claims")
        figures += claim_figures(bases, claim_seconds)
        # At 1.38 and later Placement 16.0.0 answers GET /usages with a 500
        # on PostgreSQL (a GROUP BY error in its consumer-type query), so
        # both are asked at 1.37.
        nodes = [tree[0] for tree in fleet_trees if tree[0].name.startswith("compute-")]
        for base in bases.values():
            write_usage_consumers(base, nodes)
        figures += latency_figures("usages", clients, f"/usages?project_id={USAGE_PROJECT}", repeats, "1.37")
        return figures
    finally:
        for client in clients.values():
            client.close()


# -- running both ---------------------------------------------------------------


def run(providers: int, repeats: int, claim_seconds: float, seed: int) -> list[Figure]:
    trees = fleet(providers, seed)
    postgres = PrivatePostgres()
    postgres.start()
    servers: dict[str, ServerProcess] = {}
    with tempfile.TemporaryDirectory(prefix="berth-compare-") as tmp:
        workdir = Path(tmp)
        try:
            placement_db = create_database(postgres.admin_url).replace("+psycopg:", "+psycopg2:")
            servers["placement"] = serve_placement(placement_db, workdir / "placement", workers=2)
            config = workdir / "berth.toml"
            config.write_text("[placement]\nrandomize_allocation_candidates = true\n")
            servers["berth"] = berth_server(f"sqlite:///{workdir / 'berth.db'}", workdir, 2, config)
            for name in SERVICES:
                seconds = load(servers[name].base, trees)
                console.log(f"{name}: {sum(map(len, trees))} providers loaded over HTTP in {seconds:.0f} s")
            figures = measure({n: servers[n].base for n in SERVICES}, trees, repeats, claim_seconds)
            figures.append(Figure("server_rss_mib", "MiB", servers["berth"].rss_mib(), servers["placement"].rss_mib()))
            return figures
        finally:
            for server in servers.values():
                server.stop()
            postgres.stop()


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )
    memory_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:"))
    return f"{os.cpu_count()} cores ({model}), {memory_kib / 1024 / 1024:.0f} GiB, Python {platform.python_version()}"


def table(providers: int, figures: Iterable[Figure]) -> Table:
    result = Table(title=f"berth and Placement 16.0.0, {providers:,} compute nodes (+ nested fleet)")
    for column in ("figure", "berth", "Placement", "berth better by"):
        result.add_column(column, justify="left" if column == "figure" else "right")
    for f in figures:
        result.add_row(f.name, f"{f.berth:.1f} {f.unit}", f"{f.placement:.1f} {f.unit}", f.ratio_text)
    return result


def markdown(providers: int, figures: list[Figure], command: str) -> str:
    lines = [
        f"<!-- compare {providers} -->",
        f"### berth and Placement 16.0.0, {providers:,} compute nodes",
        "",
        f"`{command}` on {datetime.date.today().isoformat()}, {machine()}. berth on SQLite,",
        "Placement on PostgreSQL, both with 2 worker processes. Ratio: how many times",
        "better berth is (Placement's time over berth's; berth's rate over Placement's).",
        "",
        "| figure | berth | Placement | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {f.name} | {f.berth:.1f} {f.unit} | {f.placement:.1f} {f.unit} | {f.ratio_text} |"
              for f in figures]
    lines.append(f"<!-- /compare {providers} -->")
    return "\n".join(lines)


def record(providers: int, figures: list[Figure], command: str) -> None:
    """Replace this size's section of docs/benchmarks.md (or add it)."""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = markdown(providers, figures, command)
    pattern = re.compile(rf"<!-- compare {providers} -->.*?<!-- /compare {providers} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, action="append",
                        help="compute nodes (repeatable; default 1000 and 10000)")
    parser.add_argument("--repeats", type=int, default=50, help="timed requests per limited query")
    parser.add_argument("--claim-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-record", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    command = "python bench/compare.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    result: dict = {}
    for providers in args.providers or [1_000, 10_000]:
        started = time.perf_counter()
        figures = run(providers, args.repeats, args.claim_seconds, args.seed)
        Console().print(table(providers, figures))
        console.log(f"{providers} compute nodes: {time.perf_counter() - started:.0f} s in all")
        if not args.no_record:
            record(providers, figures, command)
        result = {"providers": providers} | {
            f.name: {"berth": round(f.berth, 3), "placement": round(f.placement, 3),
                     "ratio": None if f.ratio is None else round(f.ratio, 2)}
            for f in figures
        }
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
