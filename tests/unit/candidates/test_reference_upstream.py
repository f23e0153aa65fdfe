"""The reference against upstream Placement 16.0.0 itself, on random worlds.

Not part of the default suite (marker ``upstream_oracle``; run it with
``make test-oracle``). ``upstream_oracle.py`` runs in a virtualenv with
``openstack-placement==16.0.0``: BERTH_UPSTREAM_PLACEMENT_VENV, or the one
bench/peer/placement.py installs under .cache/peer, and answers each
example over Placement's own HTTP API. BERTH_UPSTREAM_EXAMPLES sets the
number of examples (200).

One known difference is accepted, in one direction only: upstream keeps an
unsuffixed-group candidate taken wholly from sharing providers under just
one of its anchor trees (chosen by hash order), so it may miss merged
candidates that the reference lists (see reference.reference_candidates).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from .reference import SHARING_TRAIT, reference_candidates
from .worlds import WorldSpec, request_to_json, requests, snapshots, world_to_json, worlds

EXAMPLES = int(os.environ.get("BERTH_UPSTREAM_EXAMPLES", "200"))

pytestmark = pytest.mark.upstream_oracle


def _placement_venv() -> Path:
    given = os.environ.get("BERTH_UPSTREAM_PLACEMENT_VENV")
    if given:
        return Path(given)
    from bench.peer.placement import install

    return install()


@pytest.fixture(scope="module")
def oracle():
    process = subprocess.Popen(
        [str(_placement_venv() / "bin" / "python"), str(Path(__file__).with_name("upstream_oracle.py"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )

    def ask(world: WorldSpec, request) -> dict:
        case = {"world": world_to_json(world), "request": request_to_json(request)}
        process.stdin.write(json.dumps(case) + "\n")
        process.stdin.flush()
        return json.loads(process.stdout.readline())

    yield ask
    process.stdin.close()
    process.wait(timeout=30)


def _key(allocations, mappings, with_mappings: bool):
    resources = frozenset((rp, rc, n) for rp, res in allocations.items() for rc, n in res.items())
    if not with_mappings:
        return resources
    return resources, frozenset((s, frozenset(rps)) for s, rps in mappings.items())


@st.composite
def cases(draw):
    world = draw(worlds())
    return world, draw(requests(world))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_reference_matches_upstream(oracle, case):
    world, request = case
    providers = snapshots(world)
    expected = reference_candidates(providers, request)
    got = oracle(world, request)
    assert "error" not in got, got["error"]
    with_mappings = request.nested_aware
    upstream = {_key(a["allocations"], a["mappings"], with_mappings) for a in got["allocation_requests"]}
    mine = {_key(a.allocations, a.mappings, with_mappings) for a in expected.allocation_requests}
    note = f"world:\n{world.describe()}\nrequest: {request}\nupstream: {upstream}\nreference: {mine}"
    event("upstream: " + ("none" if not upstream else "some") + (", same" if upstream == mine else ", subset"))
    if upstream != mine:
        assert upstream <= mine, note
        sharing = {p.uuid for p in providers if SHARING_TRAIT in p.traits}
        for missing in mine - upstream:
            areq = next(a for a in expected.allocation_requests if _key(a.allocations, a.mappings, with_mappings) == missing)
            assert "" in areq.mappings and set(areq.mappings[""]) <= sharing and len(areq.mappings) > 1, note
    else:
        assert set(got["summaries"]) == set(expected.summary_uuids), note
