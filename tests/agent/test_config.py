"""The agent's configuration (TOML file and flags) and the tree it plans."""

from __future__ import annotations

import argparse

import pytest

from berth.agent import command
from berth.agent.config import AgentConfigError, agent_config_from_mapping, load_agent_config
from berth.agent.driver import FailureKind
from berth.agent.tree import NUMA_TRAIT, plan_tree, provider_uuid
from berth.scheduler.spec import zone_aggregate

AGGREGATE = "7e4e3f0c-51b2-4c2b-9b0e-3c3f7f0a9a11"

TOML = f"""
[berth]
url = "http://127.0.0.1:9999"
token = "secret"

[host]
name = "cn1"
cell = "cell1"
availability_zone = "az1"
numa_nodes = 2
vcpu = 17
memory_mb = 4097
disk_gb = 100
cpu_allocation_ratio = 4.0
traits = ["HW_CPU_X86_AVX2", "CUSTOM_RACK_A1"]
aggregates = ["{AGGREGATE}"]

[[host.devices]]
name = "pf0"
numa_node = 1
resources = {{ SRIOV_NET_VF = 8, NET_BW_EGR_KILOBIT_PER_SEC = 10000000 }}
traits = ["HW_NIC_SRIOV", "CUSTOM_PHYSNET_PUBLIC"]

[[host.devices]]
name = "gpu0"
resources = {{ VGPU = 4 }}

[agent]
poll_interval = 0.5
build_workers = 2

[fake_driver]
latency = 0.25
failure_rate = 0.1
failure_kinds = {{ network = 2, hardware = 1 }}
seed = 42
"""


@pytest.fixture
def toml_file(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text(TOML)
    return str(path)


def flags(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_the_toml_file_describes_the_host_the_connection_the_loop_and_the_driver(toml_file):
    config = load_agent_config(toml_file)
    assert config.berth.url == "http://127.0.0.1:9999" and config.berth.token == "secret"
    assert config.host.name == "cn1" and config.host.cell == "cell1"
    assert config.host.traits == ("HW_CPU_X86_AVX2", "CUSTOM_RACK_A1")
    assert [d.name for d in config.host.devices] == ["pf0", "gpu0"]
    assert config.host.devices[0].numa_node == 1 and config.host.devices[1].numa_node is None
    assert config.loop.poll_interval == 0.5 and config.loop.build_workers == 2
    assert config.fake_driver.failure_kinds == {FailureKind.NETWORK: 2.0, FailureKind.HARDWARE: 1.0}
    assert config.fake_driver.seed == 42


def test_flags_override_single_values_and_replace_lists(toml_file):
    args = flags(
        "--config", toml_file, "--name", "cn2", "--vcpu", "8", "--trait", "CUSTOM_OTHER",
        "--device", "nic1@0:SRIOV_NET_VF=4,HW_NIC_SRIOV", "--failure-rate", "0.5",
        "--failure-kinds", "resource_race", "--url", "http://127.0.0.1:1",
    )
    config = load_agent_config(args.config, command.overrides_from_args(args))
    assert config.host.name == "cn2" and config.host.vcpu == 8 and config.host.memory_mb == 4097
    assert config.host.traits == ("CUSTOM_OTHER",)
    (device,) = config.host.devices
    assert (device.name, device.numa_node, dict(device.resources), device.traits) == (
        "nic1", 0, {"SRIOV_NET_VF": 4}, ("HW_NIC_SRIOV",))
    assert config.fake_driver.failure_rate == 0.5
    assert config.fake_driver.failure_kinds == {FailureKind.RESOURCE_RACE: 1.0}
    assert config.berth.url == "http://127.0.0.1:1" and config.berth.token == "secret"


def test_flags_alone_are_enough():
    args = flags("--name", "cn3", "--vcpu", "4", "--memory-mb", "2048")
    config = load_agent_config(None, command.overrides_from_args(args))
    assert (config.host.name, config.host.vcpu, config.berth.url) == ("cn3", 4, "http://127.0.0.1:8778")


@pytest.mark.parametrize("host, message", [
    ({}, "needs a name"),
    ({"name": "h", "traits": ["NOT_A_TRAIT"]}, "NOT_A_TRAIT"),
    ({"name": "h", "aggregates": ["az1"]}, "not a uuid"),
    ({"name": "h", "numa_nodes": 2, "vcpu": 4, "memory_mb": 8,
      "devices": [{"name": "d", "numa_node": 2, "resources": {"VGPU": 1}}]}, "NUMA node 2"),
    ({"name": "h", "devices": [{"name": "d", "resources": {"WIDGET": 1}}]}, "WIDGET"),
    ({"name": "h", "devices": [{"name": "d", "resources": {}}]}, "no resources"),
    ({"name": "h", "devices": [{"name": "d", "resources": {"VGPU": 1}},
                               {"name": "d", "resources": {"VGPU": 1}}]}, "unique"),
    ({"name": "h", "vcpu": 1, "memory_mb": 1, "numa_nodes": 2}, "NUMA node needs"),
    ({"name": "h", "colour": "blue"}, "colour"),
])
def test_a_host_that_cannot_be_described_is_refused(host, message):
    with pytest.raises(AgentConfigError, match=message):
        agent_config_from_mapping({"host": host})


def test_unknown_sections_and_driver_kinds_are_refused():
    with pytest.raises(AgentConfigError, match="unknown sections"):
        agent_config_from_mapping({"host": {"name": "h"}, "hosts": {}})
    with pytest.raises(AgentConfigError, match="failure kinds"):
        agent_config_from_mapping({"host": {"name": "h"}, "fake_driver": {"failure_kinds": {"fire": 1}}})


def test_the_tree_splits_cpu_and_memory_over_numa_nodes_and_hangs_devices_where_configured(toml_file):
    host = load_agent_config(toml_file).host
    tree = plan_tree(host)
    root, numa0, numa1, pf0, gpu0 = tree.providers
    assert root.uuid == provider_uuid("cn1") and root.parent_uuid is None and root.name == "cn1"
    assert set(root.inventories) == {"DISK_GB"}
    assert root.traits == {"HW_CPU_X86_AVX2", "CUSTOM_RACK_A1"}
    assert root.aggregates == {AGGREGATE, zone_aggregate("az1")}
    assert [n.inventories["VCPU"].total for n in (numa0, numa1)] == [9, 8]
    assert [n.inventories["MEMORY_MB"].total for n in (numa0, numa1)] == [2049, 2048]
    assert numa0.inventories["VCPU"].allocation_ratio == 4.0
    assert numa0.traits == {NUMA_TRAIT} and numa0.parent_uuid == root.uuid
    assert pf0.parent_uuid == numa1.uuid and pf0.name == "cn1_pf0"
    assert pf0.inventories["SRIOV_NET_VF"].as_body()["max_unit"] == 8
    assert gpu0.parent_uuid == root.uuid
    assert tree.cell == "cell1"


def test_a_host_without_numa_nodes_is_one_provider_with_everything():
    host = agent_config_from_mapping({"host": {"name": "flat", "vcpu": 4, "memory_mb": 1024}}).host
    (root,) = plan_tree(host).providers
    # No disk: a class with a total of 0 is not reported at all.
    assert set(root.inventories) == {"VCPU", "MEMORY_MB"}


def test_provider_uuids_depend_on_the_host_name_only():
    def tree(name: str, size: int):
        host = {"name": name, "numa_nodes": 1, "vcpu": size, "memory_mb": size}
        return plan_tree(agent_config_from_mapping({"host": host}).host)

    one, again, other = tree("a", 1), tree("a", 9), tree("b", 1)
    uuids = [p.uuid for p in one.providers]
    assert uuids == [p.uuid for p in again.providers]
    assert not set(uuids) & {p.uuid for p in other.providers}


@pytest.mark.parametrize("raw, message", [
    ({"host": {"name": "h", "vcpu": "8"}}, r"\[host\] vcpu must be int"),
    ({"host": {"name": "h", "vcpu": True}}, r"\[host\] vcpu must be int"),
    ({"host": {"name": 5}}, r"\[host\] name must be str"),
    ({"host": {"name": "h"}, "agent": {"poll_interval": "1s"}}, r"\[agent\] poll_interval must be float"),
    ({"host": {"name": "h", "devices": [{"name": "d", "numa_node": "0", "resources": {"VGPU": 1}}]}},
     r"numa_node must be int or None"),
])
def test_values_of_the_wrong_type_are_named(raw, message):
    with pytest.raises(AgentConfigError, match=message):
        agent_config_from_mapping(raw)


def test_an_integer_is_taken_where_a_ratio_is_expected():
    host = agent_config_from_mapping({"host": {"name": "h", "cpu_allocation_ratio": 2}}).host
    assert host.cpu_allocation_ratio == 2.0 and isinstance(host.cpu_allocation_ratio, float)


def test_the_example_in_docs_agent_md_is_a_valid_configuration():
    import re
    import tomllib
    from pathlib import Path

    doc = Path(__file__).parents[2] / "docs" / "agent.md"
    (example,) = re.findall(r"```toml\n(.*?)```", doc.read_text(), re.S)
    config = agent_config_from_mapping(tomllib.loads(example))
    assert [d.name for d in config.host.devices] == ["pf0", "gpu0"]
    assert len(plan_tree(config.host).providers) == 5
