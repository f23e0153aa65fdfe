"""The agent's configuration: which host it describes, where berth is, how
often it polls, and how its fake driver behaves.

One TOML file (``berth agent --config FILE``) whose sections are the
dataclasses below, and command-line flags that override single values
(``berth.agent.command``). Both reach ``load_agent_config`` as the same raw
mapping, so there is one place that checks them.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
import uuid as uuidlib
from collections.abc import Mapping
from typing import Any

import os_resource_classes
import os_traits

from berth.agent.driver import FailureKind, FakeDriverOptions


class AgentConfigError(ValueError):
    """The configuration cannot describe a host."""


_CUSTOM = re.compile(r"^CUSTOM_[A-Z0-9_]+$")
_DEVICE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_STANDARD_TRAITS = frozenset(os_traits.get_traits())
_STANDARD_CLASSES = frozenset(os_resource_classes.STANDARDS)


@dataclasses.dataclass(frozen=True, slots=True)
class DeviceConfig:
    """A device that is a provider of its own: a NIC physical function, a GPU."""

    name: str
    # The NUMA node it hangs under; None: directly under the compute node.
    numa_node: int | None
    resources: Mapping[str, int]
    traits: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class HostConfig:
    name: str
    cell: str | None = None
    # Adds the zone's aggregate (berth.scheduler.spec.zone_aggregate).
    availability_zone: str | None = None
    # 0: VCPU and MEMORY_MB sit on the compute node itself; N: split evenly
    # over N NUMA node providers (the remainder on the first ones).
    numa_nodes: int = 0
    vcpu: int = 0
    memory_mb: int = 0
    disk_gb: int = 0
    cpu_allocation_ratio: float = 1.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    # On the compute node; standard os-traits names or CUSTOM_*.
    traits: tuple[str, ...] = ()
    # Aggregate uuids the compute node is a member of.
    aggregates: tuple[str, ...] = ()
    devices: tuple[DeviceConfig, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class BerthConnection:
    url: str = "http://127.0.0.1:8778"
    # noauth2's administrator by default; a Keystone token in production.
    token: str = dataclasses.field(default="admin", repr=False)
    # Seconds one HTTP request may take.
    timeout: float = 10.0


@dataclasses.dataclass(frozen=True, slots=True)
class LoopSettings:
    # Seconds between two reads of this host's build assignments.
    poll_interval: float = 1.0
    # Seconds between two re-assertions of the provider tree.
    resync_interval: float = 60.0
    # Builds run at once.
    build_workers: int = 4
    # Longest pause between two tries of a request berth did not answer.
    max_backoff: float = 10.0


@dataclasses.dataclass(frozen=True, slots=True)
class AgentConfig:
    host: HostConfig
    berth: BerthConnection = BerthConnection()
    loop: LoopSettings = LoopSettings()
    fake_driver: FakeDriverOptions = FakeDriverOptions()


def load_agent_config(
    path: str | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> AgentConfig:
    """The TOML file at ``path`` (if any), with ``overrides`` (section ->
    name -> value, in the file's shapes) replacing single values."""
    raw: dict[str, dict[str, Any]] = {}
    if path:
        with open(path, "rb") as handle:
            raw = {section: dict(values) for section, values in tomllib.load(handle).items()}
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update(values)
    return agent_config_from_mapping(raw)


def agent_config_from_mapping(raw: Mapping[str, Mapping[str, Any]]) -> AgentConfig:
    unknown = set(raw) - {"host", "berth", "agent", "fake_driver"}
    if unknown:
        raise AgentConfigError(f"unknown sections: {sorted(unknown)}")
    if "host" not in raw or "name" not in raw["host"]:
        raise AgentConfigError("the host needs a name ([host] name or --name)")
    try:
        return AgentConfig(
            host=_host(dict(raw["host"])),
            berth=BerthConnection(**_known(BerthConnection, raw.get("berth", {}), "berth")),
            loop=_loop(raw.get("agent", {})),
            fake_driver=_fake_driver(dict(raw.get("fake_driver", {}))),
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, AgentConfigError):
            raise
        raise AgentConfigError(str(exc)) from None


def _known(kind: type, values: Mapping[str, Any], section: str) -> dict[str, Any]:
    """``values`` checked against ``kind``'s fields: no unknown names, and
    scalars of the declared type (an int where a float is declared is
    taken), so a typo in the file gets a message, not a TypeError later."""
    hints = typing.get_type_hints(kind)
    unknown = set(values) - set(hints)
    if unknown:
        raise AgentConfigError(f"unknown settings in [{section}]: {sorted(unknown)}")
    checked = dict(values)
    for name, value in values.items():
        expected = _SCALARS.get(hints[name])
        if expected is None:
            continue  # lists and tables are checked where they are built
        # bool is an int to isinstance; "true" is not a count or a ratio.
        is_bool = isinstance(value, bool)
        if float in expected and isinstance(value, int) and not is_bool:
            checked[name] = float(value)
            continue
        if not isinstance(value, expected) or (is_bool and bool not in expected):
            names = " or ".join("None" if t is type(None) else t.__name__ for t in expected)
            raise AgentConfigError(f"[{section}] {name} must be {names}, not {value!r}")
    return checked


# Declared scalar types -> the Python types a value may have.
_SCALARS: dict[object, tuple[type, ...]] = {
    int: (int,),
    float: (float,),
    str: (str,),
    bool: (bool,),
    int | None: (int, type(None)),
    str | None: (str, type(None)),
}


def _host(values: dict[str, Any]) -> HostConfig:
    devices = tuple(_device(entry) for entry in values.pop("devices", ()))
    host = HostConfig(
        **_known(HostConfig, values, "host"),
        devices=devices,
    )
    host = dataclasses.replace(
        host, traits=tuple(host.traits), aggregates=tuple(str(a) for a in host.aggregates)
    )
    _check_host(host)
    return host


def _device(values: Mapping[str, Any]) -> DeviceConfig:
    values = _known(DeviceConfig, values, "host.devices")
    if "name" not in values:
        raise AgentConfigError("every device needs a name")
    return DeviceConfig(
        name=values["name"],
        numa_node=values.get("numa_node"),
        resources={rc: int(amount) for rc, amount in dict(values.get("resources", {})).items()},
        traits=tuple(values.get("traits", ())),
    )


def _loop(values: Mapping[str, Any]) -> LoopSettings:
    loop = LoopSettings(**_known(LoopSettings, values, "agent"))
    if loop.poll_interval <= 0 or loop.resync_interval <= 0 or loop.max_backoff <= 0:
        raise AgentConfigError("intervals and the backoff must be positive")
    if loop.build_workers < 1:
        raise AgentConfigError("build_workers must be at least 1")
    return loop


def _fake_driver(values: dict[str, Any]) -> FakeDriverOptions:
    kinds = values.pop("failure_kinds", None)
    options = _known(FakeDriverOptions, values, "fake_driver")
    if kinds is not None:
        try:
            options["failure_kinds"] = {FailureKind(k): float(w) for k, w in dict(kinds).items()}
        except ValueError:
            names = ", ".join(kind.value for kind in FailureKind)
            raise AgentConfigError(f"failure kinds are {names}; got {sorted(kinds)}") from None
    return FakeDriverOptions(**options)


def _check_host(host: HostConfig) -> None:
    if not host.name:
        raise AgentConfigError("the host name cannot be empty")
    for amount in (host.numa_nodes, host.vcpu, host.memory_mb, host.disk_gb):
        if amount < 0:
            raise AgentConfigError("host sizes cannot be negative")
    if host.numa_nodes and (host.vcpu < host.numa_nodes or host.memory_mb < host.numa_nodes):
        raise AgentConfigError("every NUMA node needs at least one VCPU and one MB of memory")
    for ratio in (host.cpu_allocation_ratio, host.ram_allocation_ratio, host.disk_allocation_ratio):
        if ratio <= 0:
            raise AgentConfigError("allocation ratios must be positive")
    check_traits(host.traits)
    for aggregate in host.aggregates:
        try:
            uuidlib.UUID(aggregate)
        except ValueError:
            raise AgentConfigError(f"aggregate {aggregate!r} is not a uuid") from None
    names = [device.name for device in host.devices]
    if len(set(names)) != len(names):
        raise AgentConfigError("device names must be unique")
    for device in host.devices:
        _check_device(device, host.numa_nodes)


def _check_device(device: DeviceConfig, numa_nodes: int) -> None:
    if not _DEVICE_NAME.match(device.name):
        raise AgentConfigError(f"device name {device.name!r} is not [A-Za-z0-9_.-]+")
    if device.numa_node is not None and not 0 <= device.numa_node < numa_nodes:
        raise AgentConfigError(
            f"device {device.name} is on NUMA node {device.numa_node}; the host has {numa_nodes}"
        )
    if not device.resources:
        raise AgentConfigError(f"device {device.name} provides no resources")
    for resource_class, amount in device.resources.items():
        if resource_class not in _STANDARD_CLASSES and not _CUSTOM.match(resource_class):
            raise AgentConfigError(
                f"{resource_class} is neither a standard resource class nor CUSTOM_*"
            )
        if amount < 1:
            raise AgentConfigError(f"device {device.name} has {amount} {resource_class}")
    check_traits(device.traits)


def check_traits(traits: tuple[str, ...]) -> None:
    for trait in traits:
        if trait not in _STANDARD_TRAITS and not _CUSTOM.match(trait):
            raise AgentConfigError(f"{trait} is neither a standard trait (os-traits) nor CUSTOM_*")
