"""Scheduling throughput and latency through the real store.

Loads a flat fleet of N hosts (VCPU, MEMORY_MB, DISK_GB; four cells; a third
with HW_CPU_X86_AVX2) into a SQLite file, then for each configuration starts
W worker processes on a fresh copy of it. Each worker has its own Scheduler
(its own candidate index, filled before the clock starts), makes
``--warmup`` requests before the clock starts (the first request of a size
compiles the claim's statements for that size), and calls
select_destinations back to back for ``--seconds``: single requests
(num_instances=1) or multi-instance requests (num_instances=100), each with
2 alternates. Every placement is claimed in the store.

Printed per configuration: placements per second (all workers together),
p50/p99 latency of one select_destinations call (decision plus claim), the
workers' CPU time per placement (the figure to compare between runs on a
machine whose speed varies: it does not count time a worker waited for a
core), claim conflicts, requeries and batch fallbacks, and
capacity-invariant violations found in the store after the run.

    python bench/schedule.py                                  # N = 1,000 and 10,000; W = 1, 2 and 4
    python bench/schedule.py --hosts 10000 --workers 4 --json  # one N, one W

With ``--json`` the last line is one JSON object: the single-instance run's
figures at the top level (hosts, workers, placements_per_s, p50_ms, p99_ms,
claim_conflicts, invariant_violations, ...), every run under "runs", and
the machine's speed before and after (bench/support.py reference_speed)
under "reference_rounds_per_s".
Figures on this machine are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid as uuidlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import reference_speed  # noqa: E402
from berth.config import SchedulerSettings  # noqa: E402
from berth.placement.model import Inventory, ProviderRegistration  # noqa: E402
from berth.scheduler import NoValidHost, RequestSpec, Scheduler, SchedulingHints  # noqa: E402
from berth.store import open_store  # noqa: E402

CELLS = ("cell1", "cell2", "cell3", "cell4")
MULTI = 100
# Requests each worker makes before the clock starts (--warmup).
WARMUP_REQUESTS = 5


@dataclasses.dataclass
class WorkerResult:
    placements: int = 0
    requests: int = 0
    no_valid_host: int = 0
    conflicts: int = 0
    requeries: int = 0
    batch_fallbacks: int = 0
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    # CPU seconds the worker used in the measured time (its process only).
    cpu_s: float = 0.0


@dataclasses.dataclass(frozen=True)
class Run:
    hosts: int
    workers: int
    num_instances: int
    placements: int
    seconds: float
    placements_per_s: float
    p50_ms: float
    p99_ms: float
    # CPU time of the workers per placement: unlike the rate, it does not
    # depend on how much of the machine the workers got.
    cpu_ms_per_placement: float
    claim_conflicts: int
    requeries: int
    batch_fallbacks: int
    no_valid_host: int
    invariant_violations: int


# -- the fleet ----------------------------------------------------------------------


def load_fleet(path: Path, hosts: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    store = open_store(f"sqlite:///{path}")
    store.upgrade()
    registrations = [
        ProviderRegistration(
            str(uuidlib.UUID(int=rng.getrandbits(128))), f"compute-{index}",
            inventories={
                "VCPU": Inventory("VCPU", rng.choice([32, 64]), allocation_ratio=4.0),
                "MEMORY_MB": Inventory("MEMORY_MB", rng.choice([262144, 524288]), reserved=4096),
                "DISK_GB": Inventory("DISK_GB", rng.choice([2000, 4000])),
            },
            traits=frozenset({"HW_CPU_X86_AVX2"} if index % 3 == 0 else set()),
            cell=CELLS[index % len(CELLS)],
        )
        for index in range(hosts)
    ]
    store.register_providers(registrations)
    store.close()


def invariant_violations(url: str) -> int:
    """Provider classes over capacity, in one consistent read."""
    store = open_store(url)
    try:
        return sum(
            1
            for provider in store.read_provider_changes(None).providers
            for rc, used in provider.usages.items()
            if rc not in provider.inventories or used > provider.inventories[rc].capacity
        )
    finally:
        store.close()


# -- the workers --------------------------------------------------------------------


def _spec(rng: random.Random) -> RequestSpec:
    cell = rng.choice((None, None, *CELLS))
    return RequestSpec.simple(
        {"VCPU": rng.choice([1, 2, 4]), "MEMORY_MB": rng.choice([1024, 2048, 4096]), "DISK_GB": 10},
        required=("HW_CPU_X86_AVX2",) if rng.random() < 0.25 else (),
        hints=SchedulingHints(cell=cell),
        project_id="bench", user_id="bench",
    )


def _work(
    url: str, seed: int, num_instances: int, seconds: float, staleness_ms: int, warmup: int, ready, go, results,
) -> None:
    rng = random.Random(seed)
    store = open_store(url)
    scheduler = Scheduler(store, SchedulerSettings(index_max_staleness_ms=staleness_ms), rng=rng)
    scheduler.finder.refresh()  # the index is filled before the clock starts
    for _ in range(warmup):
        try:
            scheduler.select_destinations(_spec(rng), num_instances, 2)
        except NoValidHost:
            pass
    result = WorkerResult()
    ready.wait()
    go.wait()
    result.started = time.perf_counter()
    cpu_started = time.process_time()
    deadline = result.started + seconds
    while time.perf_counter() < deadline:
        spec = _spec(rng)
        began = time.perf_counter()
        try:
            answer = scheduler.select_destinations(spec, num_instances, 2)
        except NoValidHost as failure:
            result.no_valid_host += 1
            result.conflicts += failure.stats.claim_conflicts
            continue
        finally:
            result.latencies_ms.append((time.perf_counter() - began) * 1000)
            result.requests += 1
        result.placements += len(answer.instances)
        result.conflicts += answer.stats.claim_conflicts
        result.requeries += answer.stats.requeries
        result.batch_fallbacks += answer.stats.batch_fallbacks
    result.finished = time.perf_counter()
    result.cpu_s = time.process_time() - cpu_started
    store.close()
    results.put(result)


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(
    fleet: Path, workdir: Path, hosts: int, workers: int, num_instances: int, seconds: float,
    staleness_ms: int = 0, warmup: int = WARMUP_REQUESTS,
) -> Run:
    """One configuration on a fresh copy of the fleet."""
    copy = workdir / f"run-{hosts}-{workers}-{num_instances}.db"
    shutil.copyfile(fleet, copy)
    url = f"sqlite:///{copy}"
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(workers + 1)
    go = context.Barrier(workers + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=_work, args=(url, seed, num_instances, seconds, staleness_ms, warmup, ready, go, results),
        )
        for seed in range(workers)
    ]
    for process in processes:
        process.start()
    ready.wait()
    go.wait()
    gathered = [results.get(timeout=seconds + 600) for _ in processes]
    for process in processes:
        process.join()
    elapsed = max(r.finished for r in gathered) - min(r.started for r in gathered)
    latencies = [ms for r in gathered for ms in r.latencies_ms]
    placements = sum(r.placements for r in gathered)
    outcome = Run(
        hosts=hosts, workers=workers, num_instances=num_instances,
        placements=placements, seconds=round(elapsed, 2),
        placements_per_s=round(placements / elapsed, 1),
        p50_ms=round(statistics.median(latencies), 2) if latencies else 0.0,
        p99_ms=round(_percentile(latencies, 0.99), 2),
        cpu_ms_per_placement=round(sum(r.cpu_s for r in gathered) * 1000 / placements, 3) if placements else 0.0,
        claim_conflicts=sum(r.conflicts for r in gathered),
        requeries=sum(r.requeries for r in gathered),
        batch_fallbacks=sum(r.batch_fallbacks for r in gathered),
        no_valid_host=sum(r.no_valid_host for r in gathered),
        invariant_violations=invariant_violations(url),
    )
    copy.unlink()
    return outcome


def _print(outcome: Run) -> None:
    print(
        f"hosts={outcome.hosts:>6} workers={outcome.workers} instances/request={outcome.num_instances:>3}  "
        f"{outcome.placements_per_s:>8.1f} placements/s  p50 {outcome.p50_ms:>7.2f} ms  "
        f"p99 {outcome.p99_ms:>7.2f} ms  cpu/placement {outcome.cpu_ms_per_placement:>6.3f} ms  "
        f"conflicts {outcome.claim_conflicts}  "
        f"requeries {outcome.requeries}  fallbacks {outcome.batch_fallbacks}  "
        f"no-valid-host {outcome.no_valid_host}  violations {outcome.invariant_violations}",
        file=sys.stderr if outcome else sys.stdout,
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, action="append", help="fleet size (repeatable)")
    parser.add_argument("--workers", type=int, action="append", help="worker processes (repeatable)")
    parser.add_argument("--mode", choices=("single", "multi", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per run")
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    parser.add_argument(
        "--index-max-staleness-ms", type=int, default=0,
        help="[scheduler] index_max_staleness_ms for the workers (default 0: always fresh)",
    )
    parser.add_argument(
        "--warmup", type=int, default=WARMUP_REQUESTS,
        help=f"requests each worker makes before the clock starts, not counted (default {WARMUP_REQUESTS})",
    )
    args = parser.parse_args()
    sizes = args.hosts or [1000, 10000]
    # 2: one worker per core on the two-core machine the figures come from.
    worker_counts = args.workers or [1, 2, 4]
    modes = {"single": [1], "multi": [MULTI], "both": [1, MULTI]}[args.mode]
    runs = []
    speed_before = reference_speed()
    print(f"reference loop: {speed_before} rounds/s on one core", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="berth-schedule-") as tmp:
        workdir = Path(tmp)
        for hosts in sizes:
            fleet = workdir / f"fleet-{hosts}.db"
            began = time.perf_counter()
            load_fleet(fleet, hosts)
            print(f"loaded {hosts} hosts in {time.perf_counter() - began:.1f}s", file=sys.stderr, flush=True)
            for workers in worker_counts:
                for num_instances in modes:
                    outcome = run(
                        fleet, workdir, hosts, workers, num_instances, args.seconds,
                        args.index_max_staleness_ms, args.warmup,
                    )
                    _print(outcome)
                    runs.append(outcome)
    speed_after = reference_speed()
    print(f"reference loop: {speed_after} rounds/s on one core", file=sys.stderr)
    print(f"load average: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs", file=sys.stderr)
    if args.json:
        top = next((r for r in runs if r.num_instances == 1), runs[-1])
        print(json.dumps({
            **dataclasses.asdict(top), "runs": [dataclasses.asdict(r) for r in runs],
            "reference_rounds_per_s": [speed_before, speed_after],
        }))


if __name__ == "__main__":
    main()
