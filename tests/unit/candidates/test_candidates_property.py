"""berth's candidate engine against the brute-force reference, on random worlds.

Each example builds a random world (``worlds.worlds``) in a real SQLite store
through the store port, then asks the engine (``CandidateFinder.find``) a few
random requests and compares every answer with ``reference_candidates`` over
the store's own snapshots: the same set of allocation requests (allocations
and mappings), no duplicates, and the same providers in the summaries, each
summarised correctly.

A store is a copy of one migrated template file (a migration costs seconds,
a copy milliseconds), and several requests share one world, so that the
whole file stays well under a minute on two cores.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from berth.placement.candidates.finder import CandidateFinder
from berth.placement.candidates.result import CandidateResult

from .conftest import copy_store
from .reference import reference_candidates
from .worlds import WorldSpec, requests, worlds, write_world

EXAMPLES = 90  # worlds; each asks 1-4 requests (about 225 comparisons)


@st.composite
def cases(draw):
    world = draw(worlds())
    return world, draw(st.lists(requests(world), min_size=1, max_size=4))


def check_summaries(result: CandidateResult, providers) -> None:
    """Every summary says what the provider is: capacity (int of (total -
    reserved) * ratio) and usage of every class it has, its traits, its
    parent and root (AC._build_provider_summaries)."""
    by_uuid = {p.uuid: p for p in providers}
    for summary in result.provider_summaries:
        provider = by_uuid[summary.uuid]
        assert summary.root_provider_uuid == provider.root_provider_uuid
        assert summary.parent_provider_uuid == provider.parent_provider_uuid
        assert set(summary.traits) == set(provider.traits)
        expected = {
            rc: (int((inv.total - inv.reserved) * inv.allocation_ratio), provider.usages.get(rc, 0))
            for rc, inv in provider.inventories.items()
        }
        assert {rc: (r.capacity, r.used) for rc, r in summary.resources.items()} == expected


def describe(world: WorldSpec, request, expected, got) -> str:
    return (
        f"\nworld:\n{world.describe()}\nrequest: {request}\n"
        f"missing from the engine: {expected - got}\nextra in the engine: {got - expected}"
    )


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_engine_matches_reference(template_db, case):
    world, asked = case
    workdir = Path(tempfile.mkdtemp(prefix="berth-candidates-"))
    try:
        store = copy_store(template_db, workdir)
        try:
            write_world(store, world)
            providers = store.read_provider_changes(None).providers
            finder = CandidateFinder(store)
            for request in asked:
                expected = reference_candidates(providers, request)
                event("answers: " + ("none" if not expected.keys else "one" if len(expected.keys) == 1 else "several"))
                result = finder.find(request)
                got = [areq.key for areq in result.allocation_requests]
                assert len(got) == len(set(got)), "duplicate allocation requests" + describe(
                    world, request, expected.keys, set(got)
                )
                assert set(got) == expected.keys, describe(world, request, expected.keys, set(got))
                summaries = {s.uuid for s in result.provider_summaries}
                assert summaries == expected.summary_uuids, (
                    f"summaries: missing {expected.summary_uuids - summaries}, "
                    f"extra {summaries - expected.summary_uuids}" + describe(world, request, expected.keys, set(got))
                )
                check_summaries(result, providers)
        finally:
            store.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
