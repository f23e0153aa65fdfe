"""The Cassandra store's full-scan reads at N providers (docs/backends.md,
"Reads"), measured on a cluster from deploy/cassandra/cluster.

Registers a flat fleet through the store (register_providers, by chunks):
N compute nodes with VCPU and MEMORY_MB, an instance on 5% of them; then
times, a few times each, the reads whose cost grows with the fleet:
``list_providers`` with a resource filter (a scan of ``tree``), the change
feed's complete read (the candidate index's start), and the feed's read
with nothing changed. Prints one line per figure; never asserts.

    .venv/bin/python deploy/cassandra/measure_reads.py \\
        --db 'cassandra://127.0.0.1/berth_measure?rf=1' --providers 100000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from berth.placement.model import ConsumerClaim, Inventory, ProviderRegistration  # noqa: E402
from berth.placement.query import ProviderQuery  # noqa: E402
from berth.store import open_store  # noqa: E402

CHUNK = 5_000
CLAIMERS = 16


def node(index: int) -> ProviderRegistration:
    return ProviderRegistration(
        str(uuidlib.uuid4()), f"measure-{index}",
        inventories={"VCPU": Inventory("VCPU", 16, allocation_ratio=2.0), "MEMORY_MB": Inventory("MEMORY_MB", 65536)},
    )


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("--providers", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    store = open_store(args.db)
    store.upgrade()
    nodes = [node(i) for i in range(args.providers)]
    started = time.perf_counter()
    for start in range(0, len(nodes), CHUNK):
        store.register_providers(nodes[start:start + CHUNK])
    print(f"registered {len(nodes)} providers in {time.perf_counter() - started:.1f} s", flush=True)

    def instance(rp: ProviderRegistration) -> None:
        store.write_allocations([ConsumerClaim(
            consumer_uuid=str(uuidlib.uuid4()), project_id="measure", user_id="measure",
            allocations={rp.uuid: {"VCPU": 2, "MEMORY_MB": 4096}},
        )])

    busy = nodes[:: 20]
    started = time.perf_counter()
    with ThreadPoolExecutor(CLAIMERS) as pool:
        list(pool.map(instance, busy))
    print(f"claimed on {len(busy)} of them in {time.perf_counter() - started:.1f} s", flush=True)

    query = ProviderQuery(resources={"VCPU": 1})
    scans = [timed(lambda: store.list_providers(query)) for _ in range(args.repeats)]
    print(f"list_providers(resources=VCPU:1): median {statistics.median(scans):.2f} s of {scans}", flush=True)
    cursor = None

    def complete_read() -> None:
        nonlocal cursor
        cursor = store.read_provider_changes(None).cursor

    starts = [timed(complete_read) for _ in range(args.repeats)]
    print(f"read_provider_changes(None): median {statistics.median(starts):.2f} s of {starts}", flush=True)
    quiet = [timed(lambda: store.read_provider_changes(cursor)) for _ in range(args.repeats)]
    print(f"read_provider_changes(cursor), nothing changed: median {statistics.median(quiet) * 1000:.0f} ms", flush=True)
    store.close()


if __name__ == "__main__":
    main()
