"""The change feed after claims, on every backend: a reader that passes its
cursor back learns each provider's new usages, and an index kept from the
feed alone agrees with one filled from a complete read."""

from __future__ import annotations

from berth.placement.candidates.index import CandidateIndex
from berth.placement.model import ProviderChanges
from tests.support.builders import claim, inventory, new_uuid, provider


def _usages_in(changes: ProviderChanges) -> dict[str, dict[str, int]]:
    """provider -> usages, whichever way the backend reported them."""
    found = {snapshot.uuid: dict(snapshot.usages) for snapshot in changes.providers}
    found.update({change.uuid: dict(change.usages) for change in changes.usages})
    return found


def test_claims_and_their_removal_come_back_as_usages(store):
    compute = provider(store, "compute")
    inventory(store, compute, VCPU=8, MEMORY_MB=4096)
    cursor = store.read_provider_changes(None).cursor
    instance = new_uuid()
    store.write_allocations([claim(instance, {compute.uuid: {"VCPU": 2, "MEMORY_MB": 1024}})])
    claimed = store.read_provider_changes(cursor)
    assert not claimed.complete
    assert _usages_in(claimed) == {compute.uuid: {"VCPU": 2, "MEMORY_MB": 1024}}
    store.delete_consumer_allocations(instance)
    freed = store.read_provider_changes(claimed.cursor)
    assert _usages_in(freed) == {compute.uuid: {}}


def test_an_index_kept_from_the_feed_matches_a_complete_read(store):
    hosts = [provider(store, f"compute-{n}") for n in range(3)]
    for host in hosts:
        inventory(store, host, VCPU=16, DISK_GB=100)
    kept = CandidateIndex()
    first = store.read_provider_changes(None)
    kept.replace_all(first.providers)
    cursor = first.cursor
    instances = [new_uuid() for _ in range(4)]
    for number, instance in enumerate(instances):
        host = hosts[number % len(hosts)]
        store.write_allocations([claim(instance, {host.uuid: {"VCPU": number + 1, "DISK_GB": 10}})])
    store.delete_consumer_allocations(instances[0])
    # A change of shape among the claims: the host is read whole again.
    inventory(store, store.get_provider(hosts[1].uuid), VCPU=32, DISK_GB=100)
    changes = store.read_provider_changes(cursor)
    kept.apply(changes.providers, changes.removed)
    kept.apply_usages(changes.usages)
    fresh = CandidateIndex()
    fresh.replace_all(store.read_provider_changes(None).providers)
    for name in ("VCPU", "DISK_GB"):
        for host in hosts:
            mine, theirs = kept.slot_of[host.uuid], fresh.slot_of[host.uuid]
            assert kept.resources[name].used[mine] == fresh.resources[name].used[theirs]
            assert kept.resources[name].free[mine] == fresh.resources[name].free[theirs]
            assert kept.resources[name].capacity[mine] == fresh.resources[name].capacity[theirs]
    vcpu = kept.resources["VCPU"]
    assert [int(vcpu.used[kept.slot_of[h.uuid]]) for h in hosts] == [4, 2, 3]
