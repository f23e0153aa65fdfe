"""The per-request ledger: the search's usage plus what the request takes."""

from __future__ import annotations

from berth.placement.candidates.result import AllocationRequest, ResourceSummary
from berth.scheduler.hosts import Ledger


def _request(**by_provider: dict[str, int]) -> AllocationRequest:
    return AllocationRequest(dict(by_provider), {"": tuple(by_provider)})


def test_later_instances_are_judged_against_what_earlier_ones_took():
    ledger = Ledger()
    summaries = {"VCPU": ResourceSummary(8, 5), "MEMORY_MB": ResourceSummary(4096, 0)}
    ledger.add_summary("host", summaries)
    two = _request(host={"VCPU": 2, "MEMORY_MB": 1024})
    assert ledger.fits(two) and not ledger.consumed
    assert ledger.free(["host"], "VCPU") == 3
    ledger.consume(two)
    assert ledger.consumed
    assert ledger.free(["host"], "VCPU") == 1 and ledger.free(["host"], "MEMORY_MB") == 3072
    assert not ledger.fits(two)
    assert ledger.short_of(two) == "VCPU"
    assert ledger.fits(_request(host={"VCPU": 1}))
    # The search's summaries are read, never changed.
    assert summaries == {"VCPU": ResourceSummary(8, 5), "MEMORY_MB": ResourceSummary(4096, 0)}


def test_a_class_or_provider_the_ledger_lacks_does_not_fit():
    ledger = Ledger()
    ledger.add_provider("host", {"VCPU": 4}, {})
    assert ledger.short_of(_request(host={"VCPU": 1, "DISK_GB": 10})) == "DISK_GB"
    assert not ledger.fits(_request(host={"VCPU": 1, "DISK_GB": 10}))
    assert not ledger.fits(_request(elsewhere={"VCPU": 1}))
    assert ledger.short_of(_request(elsewhere={"VCPU": 1})) == "VCPU"
    assert ledger.free(["host", "elsewhere"], "VCPU") == 4


def test_free_sums_a_tree_and_counts_what_was_taken_from_each_provider():
    ledger = Ledger()
    ledger.add_provider("root", {"VCPU": 4}, {"VCPU": 1})
    ledger.add_provider("numa0", {"VCPU": 8, "MEMORY_MB": 1024}, {"VCPU": 2})
    ledger.consume(_request(numa0={"VCPU": 3, "MEMORY_MB": 512}))
    assert ledger.free(["root", "numa0"], "VCPU") == (4 - 1) + (8 - 2 - 3)
    assert ledger.free(["root", "numa0"], "MEMORY_MB") == 512
