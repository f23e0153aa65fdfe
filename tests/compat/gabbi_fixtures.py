"""Gabbi fixture classes named like upstream's, for a server over HTTP.

The upstream YAML names its fixtures (``fixtures: [AllocationFixture]``) and
gabbi looks the names up in the fixture module it is given: this one. Each
class here:

- says how the server must be configured (``server_config``; the file
  runner reads it before starting the server, because configuration has to
  be in place when the process starts);
- sets the environment variables the YAML reads through ``$ENVIRON``;
- for data fixtures, creates providers, inventories, traits, aggregates and
  allocations through the server's HTTP API (seeding.PlacementSeeder).

The shapes and values are those of placement 16.0.0's
``placement/tests/functional/fixtures/gabbits.py`` (described in
shared/notes/placement-api.md section 5); the code is our own.
"""

from __future__ import annotations

import os
import uuid

from gabbi import fixture

from . import server_config
from .seeding import PlacementSeeder

_server_url: str | None = None


def bind_server(base_url: str) -> None:
    """Tell the fixtures which server to seed.

    Gabbi instantiates fixture classes itself, without arguments, so the
    running server's address can only reach them through module state. Each
    YAML file runs in its own worker process, so there is one at a time.
    """
    global _server_url
    _server_url = base_url


def _new_uuid() -> str:
    return str(uuid.uuid4())


def _export(**variables: str) -> None:
    os.environ.update(variables)


BASE_UUID_VARIABLES = (
    "RP_UUID", "RP_NAME", "RP_UUID1", "RP_NAME1", "RP_UUID2", "RP_NAME2",
    "PROJECT_ID", "ADMIN_PROJECT_ID", "SERVICE_PROJECT_ID", "USER_ID",
    "PROJECT_ID_ALT", "USER_ID_ALT", "INSTANCE_UUID", "MIGRATION_UUID",
    "CONSUMER_UUID", "PARENT_PROVIDER_UUID", "ALT_PARENT_PROVIDER_UUID",
)


def export_base_variables() -> None:
    """Fresh values for every variable that APIFixture sets."""
    _export(**{name: _new_uuid() for name in BASE_UUID_VARIABLES})
    _export(CUSTOM_RES_CLASS="CUSTOM_IRON_NFV", CUSTOM_RES_CLASS1="CUSTOM_IRON_NFV1",
            CUSTOM_RES_CLASS2="CUSTOM_IRON_NFV2")


class APIFixture(fixture.GabbiFixture):
    """An empty server with legacy policy defaults, and the base variables."""

    server_config = server_config.LEGACY_RBAC

    def start_fixture(self):
        export_base_variables()
        if _server_url is None:
            raise RuntimeError("gabbi_fixtures.bind_server() was not called")
        seeder = PlacementSeeder(_server_url)
        try:
            self.seed(seeder)
        finally:
            seeder.close()

    def seed(self, seeder: PlacementSeeder) -> None:
        """Data fixtures override this to create their providers."""


class LegacyRBACPolicyFixture(APIFixture):
    """Explicitly the deprecated (legacy) policy defaults."""

    server_config = server_config.LEGACY_RBAC


class SecureRBACPolicyFixture(APIFixture):
    server_config = server_config.SECURE_RBAC


class OpenPolicyFixture(APIFixture):
    """Every rule but admin_api allows anyone."""

    server_config = server_config.OPEN_POLICY


class CORSFixture(APIFixture):
    server_config = server_config.CORS


class AllocationFixture(APIFixture):
    """One provider (VCPU 10, DISK_GB 2048) and three consumers using it."""

    def seed(self, seeder: PlacementSeeder) -> None:
        _export(ALT_USER_ID=_new_uuid())
        env = os.environ
        provider = seeder.create_provider(env["RP_NAME"], provider_uuid=env["RP_UUID"])
        seeder.add_inventory(provider, "DISK_GB", 2048, step_size=10, min_unit=10,
                             max_unit=1000)
        seeder.add_inventory(provider, "VCPU", 10, max_unit=10)
        owner = {"user_id": env["USER_ID"], "project_id": env["PROJECT_ID"]}
        alt_owner = {"user_id": env["ALT_USER_ID"], "project_id": env["PROJECT_ID"]}
        _export(CONSUMER_0=seeder.allocate(provider, {"DISK_GB": 1000}, **owner))
        _export(CONSUMER_ID=seeder.allocate(provider, {"VCPU": 6}, **owner))
        _export(ALT_CONSUMER_ID=seeder.allocate(
            provider, {"DISK_GB": 20, "VCPU": 1}, **alt_owner))
        # Named by some YAML for a provider that must not exist.
        _export(ALT_RP_UUID=_new_uuid(), ALT_RP_NAME=_new_uuid())


class SharedStorageFixture(APIFixture):
    """cn1, cn2 and two sharing storage providers in one aggregate, with
    NUMA children and a PF under each NUMA node."""

    def seed(self, seeder: PlacementSeeder) -> None:
        agg = _new_uuid()
        roots = {name: seeder.create_provider(name, agg)
                 for name in ("cn1", "cn2", "ss", "ss2")}
        numas = {f"{cn}_{n}": seeder.create_provider(
                     f"numa{cn}_{n}", parent=roots[f"cn{cn}"])
                 for cn in (1, 2) for n in (1, 2)}
        pfs = {key: seeder.create_provider(f"pf{key}", parent=numa)
               for key, numa in numas.items()}
        _export(AGG_UUID=agg, CN1_UUID=roots["cn1"], CN2_UUID=roots["cn2"],
                SS_UUID=roots["ss"], SS2_UUID=roots["ss2"])
        _export(**{f"NUMA{key}_UUID": numa for key, numa in numas.items()})
        _export(**{f"PF{key}_UUID": pf for key, pf in pfs.items()})
        for cn in ("cn1", "cn2"):
            seeder.add_inventory(roots[cn], "VCPU", 24, allocation_ratio=16.0)
            seeder.add_inventory(roots[cn], "MEMORY_MB", 128 * 1024,
                                 allocation_ratio=1.5)
        seeder.set_traits(roots["cn1"], "HW_CPU_X86_SSE", "HW_CPU_X86_SSE2")
        seeder.add_inventory(roots["cn2"], "DISK_GB", 2000, reserved=100)
        for shared in ("ss", "ss2"):
            seeder.add_inventory(roots[shared], "DISK_GB", 2000, reserved=100)
            seeder.set_traits(roots[shared], "MISC_SHARES_VIA_AGGREGATE")
        for pf in pfs.values():
            seeder.add_inventory(pf, "SRIOV_NET_VF", 8)


class NUMAAggregateFixture(APIFixture):
    """Two resourceless compute nodes with VCPU on NUMA children, sharing
    storage through aggregates A and C."""

    def seed(self, seeder: PlacementSeeder) -> None:
        agg_a, agg_b, agg_c = _new_uuid(), _new_uuid(), _new_uuid()
        cn1 = seeder.create_provider("cn1", agg_a)
        cn2 = seeder.create_provider("cn2", agg_a, agg_b)
        ss1 = seeder.create_provider("ss1", agg_a)
        ss2 = seeder.create_provider("ss2", agg_c)
        numas = {"1_1": seeder.create_provider("numa1_1", agg_c, parent=cn1),
                 "1_2": seeder.create_provider("numa1_2", parent=cn1),
                 "2_1": seeder.create_provider("numa2_1", parent=cn2),
                 "2_2": seeder.create_provider("numa2_2", parent=cn2)}
        _export(AGGA_UUID=agg_a, AGGB_UUID=agg_b, AGGC_UUID=agg_c, CN1_UUID=cn1,
                CN2_UUID=cn2, SS1_UUID=ss1, SS2_UUID=ss2)
        _export(**{f"NUMA{key}_UUID": numa for key, numa in numas.items()})
        for numa in numas.values():
            seeder.add_inventory(numa, "VCPU", 24, allocation_ratio=16.0)
        for shared in (ss1, ss2):
            seeder.add_inventory(shared, "DISK_GB", 2000, reserved=100)
            seeder.set_traits(shared, "MISC_SHARES_VIA_AGGREGATE")


class NUMANetworkFixture(APIFixture):
    """A NUMA-and-network compute tree (cn1), a flat one with NICs (cn2) and
    a sharing storage provider, all in aggregate A."""

    def seed(self, seeder: PlacementSeeder) -> None:
        self.make_entities(seeder, cn1=None, cn2=None)

    def make_entities(self, seeder: PlacementSeeder, cn1: str | None,
                      cn2: str | None) -> None:
        agg_a = _new_uuid()
        _export(AGGA_UUID=agg_a)
        ss1 = seeder.create_provider("ss1", agg_a)
        seeder.set_traits(ss1, "MISC_SHARES_VIA_AGGREGATE")
        seeder.add_inventory(ss1, "DISK_GB", 2000)
        _export(SS1_UUID=ss1)
        owner = {"user_id": "numafx-user", "project_id": "numafx-project"}
        cn1 = cn1 or seeder.create_provider("cn1")
        seeder.set_aggregates(cn1, agg_a)
        seeder.set_traits(cn1, "COMPUTE_VOLUME_MULTI_ATTACH")
        _export(CN1_UUID=cn1)
        self._numa_subtrees(seeder, cn1, owner)
        self._network_agents(seeder, cn1)
        cn2 = cn2 or seeder.create_provider("cn2")
        self._flat_compute(seeder, cn2, agg_a, owner)
        self._nic_subtrees(seeder, cn2)

    @staticmethod
    def _numa_subtrees(seeder: PlacementSeeder, cn1: str, owner: dict) -> None:
        numa0 = seeder.create_provider("numa0", parent=cn1)
        seeder.set_traits(numa0, "HW_NUMA_ROOT")
        seeder.add_inventory(numa0, "VCPU", 4)
        numa1 = seeder.create_provider("numa1", parent=cn1)
        seeder.set_traits(numa1, "HW_NUMA_ROOT", "CUSTOM_FOO")
        seeder.add_inventory(numa1, "VCPU", 4)
        _export(NUMA0_UUID=numa0, NUMA1_UUID=numa1)
        seeder.add_inventory(numa0, "MEMORY_MB", 2048, min_unit=512, step_size=256)
        seeder.add_inventory(numa1, "MEMORY_MB", 2048, min_unit=256, max_unit=1024)
        seeder.allocate(numa0, {"VCPU": 2}, **owner)
        fpga0 = seeder.create_provider("fpga0", parent=numa0)
        seeder.add_inventory(fpga0, "FPGA", 1)
        pgpu0 = seeder.create_provider("pgpu0", parent=numa0)
        seeder.add_inventory(pgpu0, "VGPU", 8)
        _export(FPGA0_UUID=fpga0, PGPU0_UUID=pgpu0)
        for index in (0, 1):
            fpga = seeder.create_provider(f"fpga1_{index}", parent=numa1)
            seeder.add_inventory(fpga, "FPGA", 1)
            _export(**{f"FPGA1_{index}_UUID": fpga})

    @staticmethod
    def _network_agents(seeder: PlacementSeeder, cn1: str) -> None:
        sriov = seeder.create_provider("sriov_agent", parent=cn1)
        seeder.set_traits(sriov, "CUSTOM_VNIC_TYPE_DIRECT")
        _export(SRIOV_AGENT_UUID=sriov)
        for index in (1, 2):
            esn = seeder.create_provider(f"esn{index}", parent=sriov)
            seeder.set_traits(esn, f"CUSTOM_PHYSNET{index}")
            seeder.add_inventory(esn, "NET_BW_EGR_KILOBIT_PER_SEC", 10000 * index)
            _export(**{f"ESN{index}_UUID": esn})
        ovs = seeder.create_provider("ovs_agent", parent=cn1)
        seeder.set_traits(ovs, "CUSTOM_VNIC_TYPE_NORMAL")
        br_int = seeder.create_provider("br_int", parent=ovs)
        seeder.set_traits(br_int, "CUSTOM_PHYSNET0")
        seeder.add_inventory(br_int, "NET_BW_EGR_KILOBIT_PER_SEC", 1000)
        _export(OVS_AGENT_UUID=ovs, BR_INT_UUID=br_int)

    @staticmethod
    def _flat_compute(seeder: PlacementSeeder, cn2: str, agg_a: str,
                      owner: dict) -> None:
        # Order matters to the generations the YAML sees: VCPU, the
        # allocation, then memory, disk and the trait.
        seeder.set_aggregates(cn2, agg_a)
        seeder.add_inventory(cn2, "VCPU", 8)
        seeder.allocate(cn2, {"VCPU": 3}, **owner)
        seeder.add_inventory(cn2, "MEMORY_MB", 2048, min_unit=1024, step_size=128)
        seeder.add_inventory(cn2, "DISK_GB", 1000)
        seeder.set_traits(cn2, "CUSTOM_FOO")
        _export(CN2_UUID=cn2)

    @staticmethod
    def _nic_subtrees(seeder: PlacementSeeder, cn2: str) -> None:
        nics = []
        for index in (1, 2, 3):
            nic = seeder.create_provider(f"nic{index}", parent=cn2)
            # Upstream uses the custom trait, not the standard HW_NIC_ROOT.
            seeder.set_traits(nic, "CUSTOM_HW_NIC_ROOT")
            nics.append(nic)
            _export(**{f"NIC{index}_UUID": nic})
        pf_layout = [  # (suffix, nic, physnet, VFs)
            ("1_1", 0, 1, 4), ("1_2", 0, 2, 4),
            ("2_1", 1, 1, 2), ("2_2", 1, 2, 2), ("2_3", 1, 1, 2), ("2_4", 1, 2, 2),
            ("3_1", 2, 1, 8),
        ]
        for suffix, nic, physnet, vfs in pf_layout:
            pf = seeder.create_provider(f"pf{suffix}", parent=nics[nic])
            seeder.set_traits(pf, f"CUSTOM_PHYSNET{physnet}")
            seeder.add_inventory(pf, "CUSTOM_VF", vfs)
            _export(**{f"PF{suffix}_UUID": pf})


class DeepNUMANetworkFixture(NUMANetworkFixture):
    """NUMANetworkFixture with cn1 and cn2 under parents p1 and p2 and a
    grandparent gp1, to exercise same_subtree with empty ancestors."""

    def seed(self, seeder: PlacementSeeder) -> None:
        gp1 = seeder.create_provider("gp1")
        p1 = seeder.create_provider("p1", parent=gp1)
        p2 = seeder.create_provider("p2", parent=gp1)
        cn1 = seeder.create_provider("cn1", parent=p1)
        cn2 = seeder.create_provider("cn2", parent=p2)
        self.make_entities(seeder, cn1=cn1, cn2=cn2)


class NonSharedStorageFixture(APIFixture):
    """Three compute nodes with local VCPU, memory and disk; the YAML sets
    their aggregates itself."""

    def seed(self, seeder: PlacementSeeder) -> None:
        _export(AGGA_UUID=_new_uuid(), AGGB_UUID=_new_uuid(), AGGC_UUID=_new_uuid())
        for index in (1, 2, 3):
            cn = seeder.create_provider(f"cn{index}")
            _export(**{f"CN{index}_UUID": cn})
            seeder.add_inventory(cn, "VCPU", 24)
            seeder.add_inventory(cn, "MEMORY_MB", 128 * 1024)
            seeder.add_inventory(cn, "DISK_GB", 2000)


# name, aggregates, inventory {class: total or (total, fields)}, traits
_GRANULAR_PROVIDERS = (
    ("cn_left", ("AGGA",),
     {"VCPU": 8, "MEMORY_MB": 4096, "DISK_GB": 500, "VGPU": 8, "SRIOV_NET_VF": 8,
      "CUSTOM_NET_MBPS": 4000},
     ("HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_GPU_API_DXVA", "HW_NIC_DCB_PFC",
      "CUSTOM_FOO")),
    ("cn_middle", ("AGGA", "AGGB"),
     {"VCPU": 8, "MEMORY_MB": 4096, "SRIOV_NET_VF": 8, "CUSTOM_NET_MBPS": 4000},
     ("HW_CPU_X86_AVX", "HW_CPU_X86_AVX2", "HW_CPU_X86_SSE", "HW_NIC_ACCEL_TLS")),
    ("cn_right", ("AGGB", "AGGC"),
     {"VCPU": 8, "MEMORY_MB": 4096, "DISK_GB": 500, "VGPU": (8, {"max_unit": 2})},
     ("HW_CPU_X86_MMX", "HW_GPU_API_DXVA", "CUSTOM_DISK_SSD")),
    ("shr_disk_1", ("AGGA",), {"DISK_GB": 1000},
     ("MISC_SHARES_VIA_AGGREGATE", "CUSTOM_DISK_SSD")),
    ("shr_disk_2", ("AGGA", "AGGB"), {"DISK_GB": 1000},
     ("MISC_SHARES_VIA_AGGREGATE",)),
    ("shr_net", ("AGGC",), {"SRIOV_NET_VF": 16, "CUSTOM_NET_MBPS": 40000},
     ("MISC_SHARES_VIA_AGGREGATE",)),
)


class GranularFixture(APIFixture):
    """Three compute nodes and three sharing providers across aggregates
    A, B and C, for granular request groups. Variables have no _UUID."""

    def seed(self, seeder: PlacementSeeder) -> None:
        seeder.ensure_resource_class("CUSTOM_NET_MBPS")
        _export(AGGA=_new_uuid(), AGGB=_new_uuid(), AGGC=_new_uuid())
        for name, aggregates, inventory, traits in _GRANULAR_PROVIDERS:
            provider = seeder.create_provider(
                name, *(os.environ[agg] for agg in aggregates))
            _export(**{name.upper(): provider})
            for resource_class, amount in inventory.items():
                total, fields = amount if isinstance(amount, tuple) else (amount, {})
                seeder.add_inventory(provider, resource_class, total, **fields)
            seeder.set_traits(provider, *traits)


# compute name -> (br-ex physnets, pf physnets, br-ex bandwidth, pf bandwidth)
_QOS_COMPUTES = {
    "compute0": (("CUSTOM_PHYSNET_OTHER",), ("CUSTOM_PHYSNET_OTHER",), 5000, 10000),
    "compute1": (("CUSTOM_PHYSNET_MSN_S1",), ("CUSTOM_PHYSNET_MSN_S1",), 5000, 10000),
    "compute2": (("CUSTOM_PHYSNET_MSN_S2",), ("CUSTOM_PHYSNET_MSN_S2",), 5000, 10000),
    "compute3": (("CUSTOM_PHYSNET_MSN_S1", "CUSTOM_PHYSNET_MSN_S2"),
                 ("CUSTOM_PHYSNET_MSN_S1", "CUSTOM_PHYSNET_MSN_S2"), 1000, 1000),
}
_SRIOV_VNIC_TRAITS = ("CUSTOM_VNIC_TYPE_DIRECT", "CUSTOM_VNIC_TYPE_DIRECT_PHYSICAL",
                      "CUSTOM_VNIC_TYPE_MACVTAP")
_BANDWIDTH_CLASSES = ("NET_BW_EGR_KILOBIT_PER_SEC", "NET_BW_IGR_KILOBIT_PER_SEC")


class NeutronQoSMultiSegmentFixture(APIFixture):
    """Four compute trees with an OVS agent (bridges) and an SR-IOV agent
    (PFs) each; compute3 is on both segments with little bandwidth.
    Variable names contain colons, e.g. "compute1:br_ex"."""

    def seed(self, seeder: PlacementSeeder) -> None:
        for compute, layout in _QOS_COMPUTES.items():
            self._compute_tree(seeder, compute, *layout)
        # Reproduces an upstream fixture bug that the YAML may rely on:
        # compute3's "sriov_agent" variable holds compute2's agent.
        _export(**{"compute3:sriov_agent": os.environ["compute2:sriov_agent"]})

    @staticmethod
    def _compute_tree(seeder: PlacementSeeder, compute: str, bridge_nets: tuple,
                      pf_nets: tuple, bridge_bw: int, pf_bw: int) -> None:
        root = seeder.create_provider(compute)
        for resource_class, total in (("VCPU", 8), ("MEMORY_MB", 4096),
                                      ("DISK_GB", 500)):
            seeder.add_inventory(root, resource_class, total)
        ovs = seeder.create_provider(f"{compute}:Open vSwitch agent", parent=root)
        seeder.add_inventory(ovs, "NET_PACKET_RATE_KILOPACKET_PER_SEC", 1000)
        seeder.set_traits(ovs, "CUSTOM_VNIC_TYPE_NORMAL")
        _export(**{compute: root, f"{compute}:ovs_agent": ovs})
        for index, physnet in enumerate(bridge_nets):
            suffix = "" if index == 0 else str(index + 1)  # br-ex, br-ex2
            bridge = seeder.create_provider(
                f"{compute}:Open vSwitch agent:br-ex{suffix}", parent=ovs)
            for resource_class in _BANDWIDTH_CLASSES:
                seeder.add_inventory(bridge, resource_class, bridge_bw)
            seeder.set_traits(bridge, "CUSTOM_VNIC_TYPE_NORMAL", physnet)
            _export(**{f"{compute}:br_ex{suffix}": bridge})
        sriov = seeder.create_provider(f"{compute}:NIC Switch agent", parent=root)
        _export(**{f"{compute}:sriov_agent": sriov})
        seeder.set_traits(sriov, *_SRIOV_VNIC_TRAITS)
        for index, physnet in enumerate(pf_nets):
            pf = seeder.create_provider(
                f"{compute}:NIC Switch agent:enp129s0f{index}", parent=sriov)
            for resource_class in _BANDWIDTH_CLASSES:
                seeder.add_inventory(pf, resource_class, pf_bw)
            seeder.set_traits(pf, *_SRIOV_VNIC_TRAITS, physnet)
            _export(**{f"{compute}:pf{index}": pf})
