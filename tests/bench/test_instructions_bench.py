"""bench/instructions.py counts what the measured requests execute, not
the process's start-up, and says so in its last line of JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _count(instances: int, requests: int) -> dict:
    finished = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "instructions.py"), "--hosts", "200",
            "--instances", str(instances), "--requests", str(requests), "--json",
        ],
        capture_output=True, text=True, timeout=600, check=True,
    )
    return json.loads(finished.stdout.strip().splitlines()[-1])


def test_instructions_are_counted_per_request_and_per_placement():
    single = _count(1, 10)
    assert (single["hosts"], single["num_instances"], single["requests"]) == (200, 1, 10)
    # A decision and its claim run a few million instructions; importing
    # numpy and SQLAlchemy and filling the index (left out) run billions.
    assert 100_000 < single["instructions_per_request"] < 50_000_000
    assert single["instructions_per_placement"] == single["instructions_per_request"]
    several = _count(10, 3)
    assert several["instructions_per_placement"] == several["instructions_per_request"] // 10
    assert several["instructions_per_request"] > single["instructions_per_request"]
