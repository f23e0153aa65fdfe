"""``berth agent`` as a real process against a real berth, both on
127.0.0.1 and stopped by PID."""

from __future__ import annotations

import httpx

from berth.agent.tree import provider_uuid
from tests.agent.processes import agent_process
from tests.agent.conftest import HEADERS, eventually
from tests.support.server import BerthServer


def tree_of(url: str, root_uuid: str) -> dict[str, dict]:
    with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as http:
        found = http.get("/resource_providers", params={"in_tree": root_uuid})
        if found.status_code != 200:
            return {}
        return {p["name"]: p for p in found.json()["resource_providers"]}


def traits_of(http: httpx.Client, uuid: str) -> list[str]:
    answer = http.get(f"/resource_providers/{uuid}/traits")
    return answer.json()["traits"] if answer.status_code == 200 else []


def inventories_of(http: httpx.Client, uuid: str) -> dict:
    answer = http.get(f"/resource_providers/{uuid}/inventories")
    return answer.json()["inventories"] if answer.status_code == 200 else {}


def test_the_agent_command_writes_its_tree_puts_it_back_and_stops_on_sigterm(
    berth_server, http, host_name, tmp_path
):
    config = tmp_path / "agent.toml"
    config.write_text(f"""
[host]
name = "{host_name}"
cell = "cell-p"
numa_nodes = 2
vcpu = 8
memory_mb = 4096
disk_gb = 50
traits = ["CUSTOM_FROM_FILE"]

[agent]
poll_interval = 0.1
resync_interval = 0.3
""")
    root = provider_uuid(host_name)
    agent = agent_process(
        tmp_path, "--config", str(config), "--url", berth_server.url,
        "--device", "pf0@1:SRIOV_NET_VF=4,HW_NIC_SRIOV", "--failure-rate", "0.1",
    ).start()
    try:
        names = {host_name, f"{host_name}_NUMA0", f"{host_name}_NUMA1", f"{host_name}_pf0"}
        tree = eventually(lambda: (t := tree_of(berth_server.url, root)) and set(t) == names and t)
        assert tree[f"{host_name}_pf0"]["parent_provider_uuid"] == tree[f"{host_name}_NUMA1"]["uuid"]
        eventually(lambda: http.get(f"/resource_providers/{root}/cell").json()["cell"] == "cell-p")
        eventually(lambda: "CUSTOM_FROM_FILE" in traits_of(http, root))

        pf0 = tree[f"{host_name}_pf0"]["uuid"]
        assert http.delete(f"/resource_providers/{pf0}").status_code == 204
        eventually(lambda: "SRIOV_NET_VF" in inventories_of(http, pf0))
        assert agent.running
    finally:
        code = agent.stop()
    assert code == 0, agent.log()


def test_an_agent_started_before_berth_waits_for_it(tmp_path, host_name):
    server = BerthServer("sqlite:///" + str(tmp_path / "late.db"), tmp_path)
    agent = agent_process(
        tmp_path, "--name", host_name, "--vcpu", "2", "--memory-mb", "1024",
        "--url", server.url, "--poll-interval", "0.1",
    ).start()
    try:
        eventually(lambda: "berth did not answer" in agent.log())
        assert agent.running
        with server:
            root = provider_uuid(host_name)
            eventually(lambda: host_name in tree_of(server.url, root))
            assert agent.running
    finally:
        code = agent.stop()
    assert code == 0, agent.log()
