"""Claims through a berth server on a 3-node cluster (RF 3) while a node is
SIGKILLed and restarted.

Four clients claim 1 VCPU at a time over HTTP (PUT /allocations, microversion
1.28) on two providers: a small one that fills up (capacity 30) and a large
one that never does, so claims have every reason to keep succeeding. An
observer reads the small provider's usage throughout. Checked:

* with one node down, claims keep being acknowledged (after the few seconds
  in which requests already sent to the dead node fail);
* usage never exceeds capacity, as seen by the observer at any moment;
* every acknowledged claim is there afterwards, and nothing else is, beyond
  claims whose answer was lost (an error) and that may have applied.

Run with `-m cassandra_cluster` (`make test-cluster`); `-s` prints the phases.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
import uuid

import httpx
import pytest

from berth.placement import errors
from berth.placement.model import Inventory
from berth.store import open_store
from tests.backends.cassandra.cluster_script import process_is_gone
from tests.support.server import BerthServer

pytestmark = [pytest.mark.cassandra_cluster, pytest.mark.xdist_group("cassandra-three-nodes")]

SMALL_CAPACITY = 30
CLIENTS = 4
# Requests already on their way to the killed node may fail; later ones
# must not.
GRACE_S = 5.0
HEADERS = {"x-auth-token": "admin", "openstack-api-version": "placement 1.28"}


@pytest.fixture(scope="module")
def trio(make_cluster):
    return make_cluster(nodes=3, address_block=35)


@dataclasses.dataclass
class Outcome:
    consumer: str
    provider: str
    status: int  # 0: no answer
    started: float
    ended: float
    detail: str = ""  # what a failed request answered (or raised)


class Clients:
    """Client threads claiming through berth until told to stop."""

    def __init__(self, base_url: str, providers: list[str]):
        self.base_url = base_url
        self.providers = providers
        self.outcomes: list[Outcome] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(CLIENTS)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def _run(self, index: int) -> None:
        with httpx.Client(base_url=self.base_url, headers=HEADERS, timeout=90) as http:
            turn = index
            while not self.stopping.is_set():
                provider = self.providers[turn % len(self.providers)]
                turn += 1
                consumer = str(uuid.uuid4())
                body = {
                    "allocations": {provider: {"resources": {"VCPU": 1}}},
                    "project_id": "kill-test", "user_id": "kill-test", "consumer_generation": None,
                }
                started = time.monotonic()
                detail = ""
                try:
                    response = http.put(f"/allocations/{consumer}", json=body)
                    status = response.status_code
                    if status not in (204, 409):
                        detail = response.text
                except httpx.TransportError as exc:
                    status, detail = 0, repr(exc)
                self.outcomes.append(Outcome(consumer, provider, status, started, time.monotonic(), detail))

    def acknowledged(self, since: float = 0.0, until: float = float("inf")) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == 204 and since <= o.started and o.ended <= until]


class Observer(threading.Thread):
    """Reads the small provider's usage over and over; remembers the worst."""

    def __init__(self, url: str, provider: str):
        super().__init__()
        self.store = open_store(url)
        self.provider = provider
        self.highest = 0
        self.reads = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                used = self.store.get_provider_usages(self.provider).usages.get("VCPU", 0)
            except errors.BerthError:
                continue  # the store unavailable for a moment: no reading
            self.highest = max(self.highest, used)
            self.reads += 1
            time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        self.store.close()


def _failures(outcomes: list[Outcome], server: BerthServer) -> str:
    """The failed requests with what they answered, and the server's warnings."""
    lines = server.log_path.read_text(errors="replace").splitlines()
    warnings = [line for line in lines if ("WARNING" in line or "ERROR" in line) and "reconnect" not in line]
    shown = [f"{o.status} after {o.ended - o.started:.1f} s: {o.detail}" for o in outcomes]
    return "\n".join(shown + warnings[-40:])


def test_claims_through_berth_survive_a_node_kill(trio, tmp_path):
    url = f"cassandra://{','.join(trio.contact_points)}/berth_node_kill?rf=3"
    store = open_store(url)
    store.upgrade()
    small, large = str(uuid.uuid4()), str(uuid.uuid4())
    store.create_provider(small, "small")
    store.replace_inventories(small, 0, {"VCPU": Inventory("VCPU", SMALL_CAPACITY)})
    store.create_provider(large, "large")
    store.replace_inventories(large, 0, {"VCPU": Inventory("VCPU", 1_000_000)})

    server = BerthServer(url, tmp_path)
    with server:
        clients = Clients(server.url, [small, large])
        observer = Observer(url, small)
        observer.start()
        clients.start()
        time.sleep(8)
        pid = trio.pid(2)
        trio.kill(2)
        killed = time.monotonic()
        assert process_is_gone(pid)
        time.sleep(20)
        restarting = time.monotonic()
        trio.start_node(2)
        restarted = time.monotonic()
        time.sleep(8)
        clients.stop()
        observer.stop()

    by_phase = collections.Counter()
    for o in clients.outcomes:
        phase = "before" if o.started < killed else "down" if o.started < restarting else "after"
        by_phase[(phase, o.status)] += 1
    print(f"\noutcomes by phase and status: {dict(by_phase)}; restart took {restarted - restarting:.1f} s")
    print(f"observer: {observer.reads} reads, highest usage {observer.highest}")

    # Claims keep succeeding with two nodes up, and fail only in the grace window.
    two_nodes = clients.acknowledged(since=killed + GRACE_S, until=restarting)
    assert len([o for o in two_nodes if o.provider == large]) >= 10
    failed_later = [o for o in clients.outcomes if o.started > killed + GRACE_S and o.status not in (204, 409)]
    assert failed_later == [], _failures(failed_later, server)

    # The capacity invariant, at every moment the observer looked and now.
    assert observer.reads > 50
    assert observer.highest <= SMALL_CAPACITY
    unanswered = [o for o in clients.outcomes if o.status not in (204, 409)]
    for provider in (small, large):
        acknowledged = {o.consumer for o in clients.acknowledged() if o.provider == provider}
        used = store.get_provider_usages(provider).usages["VCPU"]
        # Every acknowledged claim is present, and nothing beyond the claims
        # whose answer was lost.
        assert len(acknowledged) <= used <= len(acknowledged) + len([o for o in unanswered if o.provider == provider])
        held = {c.consumer_uuid for c in store.get_provider_allocations(provider).consumers}
        assert acknowledged <= held
    assert store.get_provider_usages(small).usages["VCPU"] <= SMALL_CAPACITY
    for outcome in clients.acknowledged()[:50]:
        allocations = store.get_consumer_allocations(outcome.consumer)
        assert [dict(a.resources) for a in allocations.allocations] == [{"VCPU": 1}]
    store.close()
