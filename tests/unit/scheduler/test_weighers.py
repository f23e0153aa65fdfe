"""Every weigher, and the one normalisation stage with its multipliers."""

from __future__ import annotations

import random

from berth.config import SchedulerSettings
from berth.scheduler.pipeline import Pipeline
from berth.scheduler.spec import GroupPolicy, SchedulingHints, ServerGroup
from berth.scheduler.weighers import (
    BuildFailureWeigher,
    FreeDiskWeigher,
    FreeRamWeigher,
    FreeVcpuWeigher,
    SoftAffinityWeigher,
    SoftAntiAffinityWeigher,
)
from tests.unit.scheduler.hoststates import context, host_state


def test_free_capacity_weighers_read_the_ledger():
    host = host_state(vcpu=16, used_vcpu=4, ram=2048, disk=50)
    assert FreeVcpuWeigher().weigh([host], context())[0] == 12
    assert FreeRamWeigher().weigh([host], context())[0] == 2048
    assert FreeDiskWeigher().weigh([host], context())[0] == 50
    host.ledger.consume(host.allocation_requests[0])
    assert FreeVcpuWeigher().weigh([host], context())[0] == 11


def test_a_weigher_gives_one_value_per_host_in_the_order_given():
    hosts = [host_state(vcpu=16, used_vcpu=used) for used in (4, 0, 10)]
    assert FreeVcpuWeigher().weigh(hosts, context()) == [12.0, 16.0, 6.0]
    failures = context(build_failures={hosts[2].uuid: 2})
    assert BuildFailureWeigher().weigh(hosts, failures) == [0.0, 0.0, -2.0]
    assert BuildFailureWeigher().weigh(hosts, context()) == [0.0, 0.0, 0.0]


def _group(policy: GroupPolicy) -> SchedulingHints:
    return SchedulingHints(server_group=ServerGroup("g", policy))


def test_soft_affinity_weighers_count_members_on_the_host():
    host = host_state()
    ctx = context(_group(GroupPolicy.SOFT_AFFINITY), group_hosts={host.uuid: 2})
    assert SoftAffinityWeigher().weigh([host], ctx)[0] == 2
    assert SoftAntiAffinityWeigher().weigh([host], ctx)[0] == 0
    ctx = context(_group(GroupPolicy.SOFT_ANTI_AFFINITY), group_hosts={host.uuid: 2})
    assert SoftAntiAffinityWeigher().weigh([host], ctx)[0] == -2
    assert SoftAffinityWeigher().weigh([host], ctx)[0] == 0


def test_build_failures_rank_a_host_down():
    host = host_state()
    assert BuildFailureWeigher().weigh([host], context(build_failures={host.uuid: 3}))[0] == -3
    assert BuildFailureWeigher().weigh([host], context())[0] == 0


def _first(multiplier: float, hosts) -> str:
    settings = SchedulerSettings(
        filters=(), weighers=("vcpu",), vcpu_weight_multiplier=multiplier, host_subset_size=1,
    )
    ranking = Pipeline(settings).rank(hosts, context())
    return ranking.hosts[ranking.order(random.Random(1))[0]].uuid


def test_the_multipliers_sign_spreads_or_packs():
    emptier, fuller = host_state(vcpu=16), host_state(vcpu=16, used_vcpu=12)
    assert _first(1.0, [fuller, emptier]) == emptier.uuid
    assert _first(-1.0, [emptier, fuller]) == fuller.uuid


def test_normalisation_scales_each_weigher_to_0_1_before_its_multiplier():
    # RAM differs by thousands, VCPU by a few: after normalisation VCPU with
    # a larger multiplier wins.
    lots_of_ram = host_state(vcpu=8, ram=100_000)
    lots_of_vcpu = host_state(vcpu=64, ram=1_000)
    settings = SchedulerSettings(
        filters=(), weighers=("ram", "vcpu"), ram_weight_multiplier=1.0,
        vcpu_weight_multiplier=2.0, host_subset_size=1,
    )
    ranking = Pipeline(settings).rank([lots_of_ram, lots_of_vcpu], context())
    assert ranking.hosts[ranking.order(random.Random(1))[0]] is lots_of_vcpu
    details = {d.weigher: d for d in ranking.weights(1)}
    assert details["vcpu"].normalised == 1.0 and details["ram"].normalised == 0.0
    assert details["vcpu"].weighted == 2.0


def test_the_first_host_is_random_among_the_best_subset():
    hosts = [host_state(vcpu=v) for v in (64, 60, 56, 8, 4)]
    settings = SchedulerSettings(filters=(), weighers=("vcpu",), host_subset_size=3)
    ranking = Pipeline(settings).rank(hosts, context())
    firsts = {ranking.order(random.Random(seed))[0] for seed in range(50)}
    assert firsts == {0, 1, 2}
    order = ranking.order(random.Random(3))
    assert sorted(order) == [0, 1, 2, 3, 4] and order[-2:] == [3, 4]
