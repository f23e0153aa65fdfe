"""bench/schedule.py keeps its promise: a last line of JSON with the figures
the scheduler's targets are judged by, from a real run through the store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_last_line_is_one_json_object_with_every_run():
    finished = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "schedule.py"), "--hosts", "200", "--workers", "2",
            "--mode", "both", "--seconds", "0.5", "--json",
        ],
        capture_output=True, text=True, timeout=300, check=True,
    )
    figures = json.loads(finished.stdout.strip().splitlines()[-1])
    for key in ("hosts", "workers", "placements_per_s", "p50_ms", "p99_ms", "claim_conflicts",
                "invariant_violations", "cpu_ms_per_placement"):
        assert key in figures
    assert (figures["hosts"], figures["workers"], figures["num_instances"]) == (200, 2, 1)
    assert [(run["num_instances"]) for run in figures["runs"]] == [1, 100]
    for run in figures["runs"]:
        assert run["placements"] > 0 and run["placements_per_s"] > 0
        assert run["p50_ms"] <= run["p99_ms"]
        assert run["cpu_ms_per_placement"] > 0
        assert run["invariant_violations"] == 0
    assert len(figures["reference_rounds_per_s"]) == 2 and min(figures["reference_rounds_per_s"]) > 0
