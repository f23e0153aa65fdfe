"""The provider tree a host describes: what the agent wants berth to hold.

Provider uuids are uuid5 of the host name and the provider's place in the
tree, so an agent restarted with the same name finds the tree it wrote,
and two hosts never collide.
"""

from __future__ import annotations

import dataclasses
import uuid as uuidlib
from collections.abc import Mapping

from berth.agent.config import DeviceConfig, HostConfig
from berth.scheduler.spec import zone_aggregate

# Fixed forever: changing it would orphan every tree agents have written.
PROVIDER_NAMESPACE = uuidlib.UUID("6f1d3a52-8c0e-5b7a-9d2f-4e8b1c7a0d35")

NUMA_TRAIT = "HW_NUMA_ROOT"


@dataclasses.dataclass(frozen=True, slots=True)
class InventorySpec:
    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int | None = None  # None: the total
    step_size: int = 1
    allocation_ratio: float = 1.0

    def as_body(self) -> dict:
        return {
            "total": self.total, "reserved": self.reserved, "min_unit": self.min_unit,
            "max_unit": self.total if self.max_unit is None else self.max_unit,
            "step_size": self.step_size, "allocation_ratio": self.allocation_ratio,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderSpec:
    uuid: str
    name: str
    parent_uuid: str | None
    inventories: Mapping[str, InventorySpec]
    traits: frozenset[str] = frozenset()
    aggregates: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderTree:
    """Providers parents first; the first is the compute node (the root)."""

    providers: tuple[ProviderSpec, ...]
    cell: str | None

    @property
    def root(self) -> ProviderSpec:
        return self.providers[0]

    def by_uuid(self) -> dict[str, ProviderSpec]:
        return {provider.uuid: provider for provider in self.providers}


def provider_uuid(host_name: str, path: str = "") -> str:
    """The stable uuid of the provider at ``path`` ("" for the compute node)."""
    return str(uuidlib.uuid5(PROVIDER_NAMESPACE, f"{host_name}/{path}"))


def plan_tree(host: HostConfig) -> ProviderTree:
    root_uuid = provider_uuid(host.name)
    numa = [_numa_node(host, index, root_uuid) for index in range(host.numa_nodes)]
    root_classes = {"DISK_GB": (host.disk_gb, host.disk_allocation_ratio)}
    if not numa:
        root_classes.update(_compute_classes(host, host.vcpu, host.memory_mb))
    aggregates = set(host.aggregates)
    if host.availability_zone:
        aggregates.add(zone_aggregate(host.availability_zone))
    root = ProviderSpec(
        root_uuid, host.name, None, _inventories(root_classes),
        frozenset(host.traits), frozenset(aggregates),
    )
    devices = [_device(host, device, root_uuid) for device in host.devices]
    return ProviderTree((root, *numa, *devices), host.cell)


def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


def _compute_classes(host: HostConfig, vcpu: int, memory_mb: int) -> dict[str, tuple[int, float]]:
    return {
        "VCPU": (vcpu, host.cpu_allocation_ratio),
        "MEMORY_MB": (memory_mb, host.ram_allocation_ratio),
    }


def _inventories(classes: Mapping[str, tuple[int, float]]) -> dict[str, InventorySpec]:
    # Placement refuses an inventory with a total of 0: a class the host
    # lacks is simply not reported.
    return {
        rc: InventorySpec(total, allocation_ratio=ratio)
        for rc, (total, ratio) in classes.items() if total > 0
    }


def _numa_node(host: HostConfig, index: int, root_uuid: str) -> ProviderSpec:
    vcpu = _share(host.vcpu, host.numa_nodes, index)
    memory_mb = _share(host.memory_mb, host.numa_nodes, index)
    return ProviderSpec(
        provider_uuid(host.name, f"numa{index}"), f"{host.name}_NUMA{index}", root_uuid,
        _inventories(_compute_classes(host, vcpu, memory_mb)), frozenset({NUMA_TRAIT}),
    )


def _device(host: HostConfig, device: DeviceConfig, root_uuid: str) -> ProviderSpec:
    parent = root_uuid if device.numa_node is None else provider_uuid(host.name, f"numa{device.numa_node}")
    return ProviderSpec(
        provider_uuid(host.name, f"device/{device.name}"), f"{host.name}_{device.name}", parent,
        {rc: InventorySpec(amount) for rc, amount in device.resources.items()},
        frozenset(device.traits),
    )
