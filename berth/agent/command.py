"""``berth agent``: its flags, and running it until SIGTERM or SIGINT.

Every flag overrides one value of the TOML file given with ``--config``
(list flags, given at least once, replace the file's list)."""

from __future__ import annotations

import argparse
import logging
import signal
from typing import Any

from berth.agent.config import AgentConfigError, load_agent_config

# flag destination -> (section, name) in the TOML file.
_SCALARS = {
    "name": ("host", "name"),
    "cell": ("host", "cell"),
    "availability_zone": ("host", "availability_zone"),
    "numa_nodes": ("host", "numa_nodes"),
    "vcpu": ("host", "vcpu"),
    "memory_mb": ("host", "memory_mb"),
    "disk_gb": ("host", "disk_gb"),
    "traits": ("host", "traits"),
    "aggregates": ("host", "aggregates"),
    "url": ("berth", "url"),
    "token": ("berth", "token"),
    "poll_interval": ("agent", "poll_interval"),
    "resync_interval": ("agent", "resync_interval"),
    "build_workers": ("agent", "build_workers"),
    "build_latency": ("fake_driver", "latency"),
    "build_latency_jitter": ("fake_driver", "latency_jitter"),
    "failure_rate": ("fake_driver", "failure_rate"),
    "failure_seed": ("fake_driver", "seed"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="agent TOML file (docs/agent.md)")
    host = parser.add_argument_group("the host")
    host.add_argument("--name", help="host name; the provider uuids derive from it")
    host.add_argument("--cell")
    host.add_argument("--availability-zone")
    host.add_argument("--numa-nodes", type=int)
    host.add_argument("--vcpu", type=int)
    host.add_argument("--memory-mb", type=int)
    host.add_argument("--disk-gb", type=int)
    host.add_argument("--trait", dest="traits", action="append", metavar="TRAIT")
    host.add_argument("--aggregate", dest="aggregates", action="append", metavar="UUID")
    host.add_argument(
        "--device", dest="devices", action="append", metavar="NAME[@NUMA]:RC=N,...[,TRAIT...]",
        help="e.g. pf0@0:SRIOV_NET_VF=8,NET_BW_EGR_KILOBIT_PER_SEC=10000000,HW_NIC_SRIOV",
    )
    connection = parser.add_argument_group("berth")
    connection.add_argument("--url", help="berth's base URL (default http://127.0.0.1:8778)")
    connection.add_argument("--token", help="x-auth-token (default: admin)")
    loop = parser.add_argument_group("the loop")
    loop.add_argument("--poll-interval", type=float)
    loop.add_argument("--resync-interval", type=float)
    loop.add_argument("--build-workers", type=int)
    fake = parser.add_argument_group("the fake driver")
    fake.add_argument("--build-latency", type=float, help="seconds")
    fake.add_argument("--build-latency-jitter", type=float, help="seconds, added at most")
    fake.add_argument("--failure-rate", type=float, help="0..1")
    fake.add_argument("--failure-kinds", metavar="KIND=WEIGHT,...",
                      help="resource_race, network, hardware (default: equal weights)")
    fake.add_argument("--failure-seed", type=int)
    parser.add_argument("--log-level", default="INFO")


def overrides_from_args(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    for dest, (section, name) in _SCALARS.items():
        value = getattr(args, dest)
        if value is not None:
            overrides.setdefault(section, {})[name] = value
    if args.devices is not None:
        overrides.setdefault("host", {})["devices"] = [parse_device(text) for text in args.devices]
    if args.failure_kinds is not None:
        overrides.setdefault("fake_driver", {})["failure_kinds"] = _parse_weights(args.failure_kinds)
    return overrides


def parse_device(text: str) -> dict[str, Any]:
    """``NAME[@NUMA]:ITEM,...``: items with ``=`` are resources, the others traits."""
    head, _, items = text.partition(":")
    name, _, numa = head.partition("@")
    resources: dict[str, int] = {}
    traits: list[str] = []
    for item in filter(None, (part.strip() for part in items.split(","))):
        resource_class, equals, amount = item.partition("=")
        if not equals:
            traits.append(item)
            continue
        try:
            resources[resource_class] = int(amount)
        except ValueError:
            raise AgentConfigError(f"device {text!r}: {amount!r} is not a number") from None
    try:
        numa_node = int(numa) if numa else None
    except ValueError:
        raise AgentConfigError(f"device {text!r}: NUMA node {numa!r} is not a number") from None
    return {"name": name, "numa_node": numa_node, "resources": resources, "traits": traits}


def _parse_weights(text: str) -> dict[str, float]:
    weights = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, _, weight = item.partition("=")
        try:
            weights[kind] = float(weight) if weight else 1.0
        except ValueError:
            raise AgentConfigError(f"failure kind weight {item!r} is not a number") from None
    return weights


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from berth.agent.agent import Agent

    try:
        config = load_agent_config(args.config, overrides_from_args(args))
    except (AgentConfigError, OSError) as exc:
        parser.error(str(exc))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # httpx logs every request at INFO: one line a poll interval says nothing.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    agent = Agent(config)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: agent.stop())
    agent.run()
    return 0
