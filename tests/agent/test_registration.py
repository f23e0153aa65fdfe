"""The agent's provider tree against a real berth process: created as
planned, re-created when deleted, converged through generation conflicts,
found again by a restarted agent."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx

from berth.agent.agent import Agent
from berth.agent.client import BerthClient
from berth.agent.reporter import TreeReporter
from berth.agent.tree import ProviderTree, plan_tree
from berth.scheduler.spec import zone_aggregate
from tests.agent.conftest import eventually

AGGREGATE = "0b8a4c6e-2f0d-4f4e-8a55-91c3d8f1e201"

NUMA_HOST = dict(
    cell="cell-a", availability_zone="az-a", numa_nodes=2, vcpu=16, memory_mb=8192, disk_gb=200,
    traits=["HW_CPU_X86_AVX2", "CUSTOM_RACK_R1"], aggregates=[AGGREGATE],
    devices=[
        {"name": "pf0", "numa_node": 0, "traits": ["HW_NIC_SRIOV", "CUSTOM_PHYSNET_PUBLIC"],
         "resources": {"SRIOV_NET_VF": 8, "NET_BW_EGR_KILOBIT_PER_SEC": 10_000_000,
                       "NET_BW_IGR_KILOBIT_PER_SEC": 10_000_000}},
        {"name": "gpu0", "numa_node": 1, "traits": ["CUSTOM_GPU_MODEL_X"],
         "resources": {"VGPU": 4, "CUSTOM_VGPU_MEMORY_MB": 16384}},
    ],
)


class RivalTransport(httpx.HTTPTransport):
    """Lets another client write just before the agent's next ``times`` PUTs
    to a path ending in ``suffix``, so the agent's write names a generation
    that has moved."""

    def __init__(self, suffix: str, rival: Callable[[], None], times: int = 1) -> None:
        super().__init__()
        self.suffix = suffix
        self.rival = rival
        self.times = times
        self.puts_seen = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and request.url.path.endswith(self.suffix):
            self.puts_seen += 1
            if self.times > 0:
                self.times -= 1
                self.rival()
        return super().handle_request(request)


def reporter_for(config, transport: httpx.BaseTransport | None = None) -> tuple[TreeReporter, ProviderTree]:
    tree = plan_tree(config.host)
    return TreeReporter(BerthClient(config.berth, transport=transport, max_backoff=0.2), tree), tree


def provider_state(http: httpx.Client, uuid: str) -> dict:
    provider = http.get(f"/resource_providers/{uuid}")
    assert provider.status_code == 200, provider.text
    inventories = http.get(f"/resource_providers/{uuid}/inventories").json()["inventories"]
    return {
        "name": provider.json()["name"],
        "parent": provider.json()["parent_provider_uuid"],
        "generation": provider.json()["generation"],
        "inventories": {rc: (inv["total"], inv["allocation_ratio"]) for rc, inv in inventories.items()},
        "traits": set(http.get(f"/resource_providers/{uuid}/traits").json()["traits"]),
        "aggregates": set(http.get(f"/resource_providers/{uuid}/aggregates").json()["aggregates"]),
        "cell": http.get(f"/resource_providers/{uuid}/cell").json()["cell"],
    }


def assert_tree_as_planned(http: httpx.Client, tree: ProviderTree) -> None:
    for spec in tree.providers:
        state = provider_state(http, spec.uuid)
        assert state["name"] == spec.name
        assert state["parent"] == spec.parent_uuid
        assert state["inventories"] == {
            rc: (inv.total, inv.allocation_ratio) for rc, inv in spec.inventories.items()
        }
        assert spec.traits <= state["traits"]
        assert spec.aggregates <= state["aggregates"]
    assert provider_state(http, tree.root.uuid)["cell"] == tree.cell


def add_trait(http: httpx.Client, uuid: str, trait: str) -> None:
    http.put(f"/traits/{trait}")
    current = http.get(f"/resource_providers/{uuid}/traits").json()
    answer = http.put(f"/resource_providers/{uuid}/traits", json={
        "traits": [*current["traits"], trait],
        "resource_provider_generation": current["resource_provider_generation"],
    })
    assert answer.status_code == 200, answer.text


def test_the_agent_writes_its_tree_inventories_traits_aggregates_and_cell(make_config, http):
    reporter, tree = reporter_for(make_config(**NUMA_HOST))
    report = reporter.sync()
    assert set(report.created) == {p.uuid for p in tree.providers}
    assert not report.failed
    assert report.cell_written
    assert_tree_as_planned(http, tree)
    root = provider_state(http, tree.root.uuid)
    assert root["aggregates"] == {AGGREGATE, zone_aggregate("az-a")}
    assert root["inventories"] == {"DISK_GB": (200, 1.0)}
    pf0 = provider_state(http, tree.providers[3].uuid)
    assert pf0["inventories"]["SRIOV_NET_VF"] == (8, 1.0)
    assert pf0["traits"] == {"HW_NIC_SRIOV", "CUSTOM_PHYSNET_PUBLIC"}
    in_tree = http.get("/resource_providers", params={"in_tree": tree.root.uuid}).json()
    assert len(in_tree["resource_providers"]) == 5


def test_a_second_sync_of_an_unchanged_tree_writes_nothing(make_config, http):
    reporter, tree = reporter_for(make_config(**NUMA_HOST))
    reporter.sync()
    generations = {p.uuid: provider_state(http, p.uuid)["generation"] for p in tree.providers}
    report = reporter.sync()
    assert (report.created, report.written, report.failed, report.cell_written) == ((), (), (), False)
    assert generations == {p.uuid: provider_state(http, p.uuid)["generation"] for p in tree.providers}


def test_a_deleted_device_and_a_deleted_tree_are_created_again_with_the_same_uuids(make_config, http):
    reporter, tree = reporter_for(make_config(**NUMA_HOST))
    reporter.sync()
    gpu = tree.providers[4]
    assert http.delete(f"/resource_providers/{gpu.uuid}").status_code == 204
    assert reporter.sync().created == (gpu.uuid,)
    assert_tree_as_planned(http, tree)

    # Children before parents: Placement refuses to delete a parent.
    for spec in reversed(tree.providers):
        assert http.delete(f"/resource_providers/{spec.uuid}").status_code == 204
    report = reporter.sync()
    assert report.created == tuple(p.uuid for p in tree.providers)
    assert_tree_as_planned(http, tree)


def test_drift_written_by_someone_else_is_put_back_and_their_traits_are_kept(make_config, http):
    reporter, tree = reporter_for(make_config(**NUMA_HOST))
    reporter.sync()
    numa0 = tree.providers[1]
    current = http.get(f"/resource_providers/{numa0.uuid}/inventories").json()
    changed = http.put(f"/resource_providers/{numa0.uuid}/inventories", json={
        "resource_provider_generation": current["resource_provider_generation"],
        "inventories": {"VCPU": {"total": 1}},
    })
    assert changed.status_code == 200, changed.text
    add_trait(http, tree.root.uuid, "COMPUTE_STATUS_DISABLED")
    moved = http.put(f"/resource_providers/{tree.root.uuid}/cell", json={"cell": "elsewhere"})
    assert moved.status_code == 200

    report = reporter.sync()
    assert numa0.uuid in report.written and report.cell_written
    assert_tree_as_planned(http, tree)
    assert "COMPUTE_STATUS_DISABLED" in provider_state(http, tree.root.uuid)["traits"]


def test_a_generation_moved_by_another_client_is_read_again_and_the_write_retried(make_config, http):
    config = make_config(**NUMA_HOST)
    tree = plan_tree(config.host)
    root = tree.root.uuid
    transport = RivalTransport(
        f"/resource_providers/{root}/inventories",
        lambda: add_trait(http, root, "CUSTOM_RIVAL_WRITE"),
    )
    reporter, _ = reporter_for(config, transport)
    report = reporter.sync()
    # The first inventory write hit a 409, the second named the new generation.
    assert transport.puts_seen == 2
    assert report.conflicts == 1 and not report.failed
    assert_tree_as_planned(http, tree)
    assert "CUSTOM_RIVAL_WRITE" in provider_state(http, root)["traits"]


def test_a_provider_someone_keeps_writing_is_left_for_the_next_sync(make_config, http):
    config = make_config(**NUMA_HOST)
    tree = plan_tree(config.host)
    numa1 = tree.providers[2].uuid
    rival_writes = iter(range(100))
    transport = RivalTransport(
        f"/resource_providers/{numa1}/inventories",
        lambda: add_trait(http, numa1, f"CUSTOM_RIVAL_{next(rival_writes)}"),
        times=100,
    )
    reporter, _ = reporter_for(config, transport)
    first = reporter.sync()
    assert first.failed == (numa1,) and first.conflicts == reporter.max_rounds
    # The rest of the tree was written all the same.
    assert provider_state(http, tree.providers[3].uuid)["inventories"]["SRIOV_NET_VF"] == (8, 1.0)

    transport.times = 0
    second = reporter.sync()
    assert second.written == (numa1,) and not second.failed
    assert_tree_as_planned(http, tree)


def test_a_restarted_agent_finds_its_tree_by_its_host_name(make_config, http):
    config = make_config(**NUMA_HOST)
    first, tree = reporter_for(config)
    first.sync()
    before = http.get("/resource_providers", params={"in_tree": tree.root.uuid}).json()

    restarted, again = reporter_for(config)
    report = restarted.sync()
    assert [p.uuid for p in again.providers] == [p.uuid for p in tree.providers]
    assert (report.created, report.written) == ((), ())
    assert http.get("/resource_providers", params={"in_tree": tree.root.uuid}).json() == before


def test_a_restarted_agent_with_a_bigger_host_updates_its_inventories_in_place(make_config, http):
    first, tree = reporter_for(make_config(**NUMA_HOST))
    first.sync()
    bigger, again = reporter_for(make_config(**{**NUMA_HOST, "vcpu": 32}))
    report = bigger.sync()
    assert report.created == ()
    assert set(report.written) == {tree.providers[1].uuid, tree.providers[2].uuid}
    assert provider_state(http, again.providers[1].uuid)["inventories"]["VCPU"] == (16, 1.0)


def test_the_running_agent_brings_back_a_tree_deleted_behind_its_back_and_stops_when_asked(make_config, http):
    agent = Agent(make_config(vcpu=4, memory_mb=2048, cell="cell-b"))
    runner = threading.Thread(target=agent.run)
    runner.start()
    try:
        eventually(lambda: agent.last_sync is not None)
        assert_tree_as_planned(http, agent.tree)
        assert http.delete(f"/resource_providers/{agent.host_uuid}").status_code == 204
        # The periodic re-assertion brings it back.
        eventually(lambda: http.get(f"/resource_providers/{agent.host_uuid}").status_code == 200)
        eventually(lambda: provider_state(http, agent.host_uuid)["inventories"] == {
            "VCPU": (4, 1.0), "MEMORY_MB": (2048, 1.0)})
    finally:
        agent.stop()
        runner.join(timeout=60)
    assert not runner.is_alive()


def test_an_inventory_berth_refuses_to_shrink_below_its_allocations_is_left_and_logged(make_config, http):
    first, tree = reporter_for(make_config(vcpu=8, memory_mb=2048))
    first.sync()
    consumer = "5d3c1a9e-0f61-4c55-8d0b-6a2f2b9c7e10"
    claimed = http.put(f"/allocations/{consumer}", json={
        "allocations": {tree.root.uuid: {"resources": {"VCPU": 6}}},
        "project_id": "p", "user_id": "u", "consumer_generation": None, "consumer_type": "INSTANCE",
    })
    assert claimed.status_code == 204, claimed.text
    try:
        smaller, _ = reporter_for(make_config(vcpu=4, memory_mb=2048, traits=["CUSTOM_STILL_WRITTEN"]))
        report = smaller.sync()
        assert report.failed == (tree.root.uuid,) and report.written == (tree.root.uuid,)
        state = provider_state(http, tree.root.uuid)
        assert state["inventories"]["VCPU"] == (8, 1.0)
        # The refused inventory does not hold back the rest of the plan.
        assert "CUSTOM_STILL_WRITTEN" in state["traits"]
        assert smaller.sync().failed == (tree.root.uuid,)
    finally:
        http.delete(f"/allocations/{consumer}")
    assert smaller.sync().written == (tree.root.uuid,)
    assert provider_state(http, tree.root.uuid)["inventories"]["VCPU"] == (4, 1.0)
