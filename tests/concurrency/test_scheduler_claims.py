"""Several scheduler worker processes place thousands of instances on a few
hundred hosts at once, through the real store (one SQLite file).

Checked while they run, at every checkpoint: no provider's usage of a class
exceeds its capacity (read in one consistent snapshot of the store). Checked
at the end: every instance a worker reported placed holds exactly its
allocation on the host reported, and that host could hold it (right cell,
not disabled, has the trait asked for). The claim conflicts and retries the
workers met are reported (printed, and counted in the assertion messages).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import random
import time
import uuid

from berth.config import SchedulerSettings
from berth.placement.model import Inventory, ProviderRegistration
from berth.scheduler import NoValidHost, RequestSpec, Scheduler, SchedulingHints
from berth.store import open_store

HOSTS = 240
WORKERS = 3
REQUESTS_PER_WORKER = 100
MULTI_EVERY = 2  # every other request places 12 instances at once
MULTI_COUNT = 12
DISABLED = "COMPUTE_STATUS_DISABLED"
AVX = "HW_CPU_X86_AVX2"


@dataclasses.dataclass(frozen=True)
class Placed:
    consumer: str
    host: str
    vcpu: int
    cell_hint: str | None
    needs_avx: bool


@dataclasses.dataclass
class WorkerReport:
    placed: list[Placed]
    no_valid_host: int = 0
    conflicts: int = 0
    requeries: int = 0
    batch_fallbacks: int = 0


def _fleet(url: str) -> dict[str, ProviderRegistration]:
    store = open_store(url)
    store.upgrade()
    store.ensure_trait(AVX)
    hosts = []
    for index in range(HOSTS):
        traits = set()
        if index % 3 == 0:
            traits.add(AVX)
        if index % 20 == 7:
            traits.add(DISABLED)
        hosts.append(ProviderRegistration(
            str(uuid.uuid4()), f"host-{index}",
            inventories={"VCPU": Inventory("VCPU", 8), "MEMORY_MB": Inventory("MEMORY_MB", 16384)},
            traits=frozenset(traits), cell="c1" if index % 2 else "c2",
        ))
    store.register_providers(hosts)
    store.close()
    return {h.uuid: h for h in hosts}


def _work(url: str, seed: int, queue) -> None:
    rng = random.Random(seed)
    store = open_store(url)
    scheduler = Scheduler(store, SchedulerSettings(host_subset_size=2, candidate_sample=16), rng=rng)
    report = WorkerReport([])
    for number in range(REQUESTS_PER_WORKER):
        vcpu = rng.choice([1, 2])
        cell = rng.choice([None, "c1", "c2"])
        needs_avx = rng.random() < 0.2
        spec = RequestSpec.simple(
            {"VCPU": vcpu, "MEMORY_MB": 512}, required=(AVX,) if needs_avx else (),
            hints=SchedulingHints(cell=cell),
        )
        count = MULTI_COUNT if number % MULTI_EVERY == 0 else 1
        try:
            result = scheduler.select_destinations(spec, count, 2)
        except NoValidHost as failure:
            report.no_valid_host += 1
            report.conflicts += failure.stats.claim_conflicts
            continue
        report.conflicts += result.stats.claim_conflicts
        report.requeries += result.stats.requeries
        report.batch_fallbacks += result.stats.batch_fallbacks
        for instance in result.instances:
            report.placed.append(Placed(instance.consumer_uuid, instance.chosen.provider_uuid, vcpu, cell, needs_avx))
    store.close()
    queue.put(report)


def _violations(store) -> list[str]:
    """Providers over capacity, in one consistent read of the store."""
    found = []
    for provider in store.read_provider_changes(None).providers:
        for rc, used in provider.usages.items():
            inventory = provider.inventories.get(rc)
            if inventory is None or used > inventory.capacity:
                found.append(f"{provider.name} {rc} {used}")
    return found


def test_scheduler_workers_never_overcommit(tmp_path):
    url = f"sqlite:///{tmp_path / 'berth.db'}"
    fleet = _fleet(url)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_work, args=(url, seed, queue)) for seed in range(WORKERS)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    checker = open_store(url)
    checkpoints, violations, reports = 0, [], []
    while len(reports) < WORKERS and time.monotonic() - started < 200:
        violations += _violations(checker)
        checkpoints += 1
        while not queue.empty():
            reports.append(queue.get())
        time.sleep(0.5)
    for worker in workers:
        worker.join(timeout=30)
    while len(reports) < WORKERS:
        reports.append(queue.get(timeout=10))
    violations += _violations(checker)

    placed = [p for r in reports for p in r.placed]
    conflicts = sum(r.conflicts for r in reports)
    requeries = sum(r.requeries for r in reports)
    fallbacks = sum(r.batch_fallbacks for r in reports)
    refused = sum(r.no_valid_host for r in reports)
    print(
        f"\n{len(placed)} instances placed by {WORKERS} workers on {HOSTS} hosts in "
        f"{time.monotonic() - started:.1f}s; {checkpoints} checkpoints; claim conflicts "
        f"{conflicts}, requeries {requeries}, batch fallbacks {fallbacks}, no valid host {refused}"
    )
    assert not violations, violations[:10]
    assert len(placed) > 1000, (len(placed), refused)
    assert len({p.consumer for p in placed}) == len(placed)
    for p in placed:
        host = fleet[p.host]
        assert DISABLED not in host.traits, p
        assert p.cell_hint is None or host.cell == p.cell_hint, p
        assert not p.needs_avx or AVX in host.traits, p
    # Every acknowledged instance holds exactly its allocation on its host,
    # and nothing else is held anywhere.
    expected = {p.consumer: (p.host, {"VCPU": p.vcpu, "MEMORY_MB": 512}) for p in placed}
    held = {}
    for host in fleet:
        for usage in checker.get_provider_allocations(host).consumers:
            held[usage.consumer_uuid] = (host, dict(usage.resources))
    assert held == expected
    checker.close()
