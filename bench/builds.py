"""How many instances end in ERROR, by number of alternates.

For each ``num_alternates`` (0, 1, 2, 3 by default) a fleet of its own on
127.0.0.1 (tests/conductor/fleet.py): ``berth serve`` over a fresh SQLite
file, one ``berth conductor`` and ``--hosts`` ``berth agent`` processes in
one cell whose fake driver fails ``--failure-rate`` of the attempts.
``--instances`` instances are submitted in builds of 20 and waited for.
The same instance uuids are used for every ``num_alternates``, and the fake
driver decides each attempt by a seeded hash of instance and attempt
number, so a run is repeatable and an instance in ERROR with k alternates
is in ERROR with fewer too.

Printed per ``num_alternates``: instances, the fraction in ERROR, the
expected fraction (failure_rate ** (k + 1)), the mean number of attempts,
and leaked VCPU (usage minus ACTIVE instances; always 0 unless broken).
Processes are stopped by PID.

    python bench/builds.py                          # 200 instances, 10% failures
    python bench/builds.py --instances 100 --json   # last line: one JSON object
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conductor.fleet import DriverSpec, Fleet, HostSpec, instance_uuids  # noqa: E402

BUILD_SIZE = 20


def measure(workdir: Path, alternates: int, uuids: list[str], args: argparse.Namespace) -> dict:
    hosts = [HostSpec(f"bench-host-{n}", "cell1") for n in range(args.hosts)]
    with Fleet(workdir, hosts, DriverSpec(failure_rate=args.failure_rate, seed=args.seed)).start() as fleet:
        started = time.monotonic()
        build_ids = [
            fleet.submit(len(uuids[n:n + BUILD_SIZE]), alternates, uuids[n:n + BUILD_SIZE])
            for n in range(0, len(uuids), BUILD_SIZE)
        ]
        builds = fleet.wait_settled(build_ids, timeout=args.timeout)
        elapsed = time.monotonic() - started
        instances = [i for b in builds for i in b["instances"]]
        active = sum(i["state"] == "ACTIVE" for i in instances)
        errors = sum(i["state"] == "ERROR" for i in instances)
        return {
            "num_alternates": alternates,
            "instances": len(instances),
            "error": errors,
            "error_fraction": errors / len(instances),
            "expected_fraction": args.failure_rate ** (alternates + 1),
            "mean_attempts": sum(len(i["attempts"]) for i in instances) / len(instances),
            "leaked_vcpu": fleet.vcpu_used() - active,
            "seconds": round(elapsed, 2),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--failure-rate", type=float, default=0.1)
    parser.add_argument("--alternates", default="0,1,2,3", help="comma-separated num_alternates values")
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()
    alternates = [int(k) for k in args.alternates.split(",")]
    if max(alternates) >= args.hosts:
        parser.error("each instance needs a host beyond its alternates: --hosts must exceed every num_alternates")
    uuids = instance_uuids(args.instances, f"bench-{args.seed}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="berth-bench-builds-") as tmp:
        for k in alternates:
            workdir = Path(tmp) / f"k{k}"
            workdir.mkdir()
            rows.append(measure(workdir, k, uuids, args))
    print(f"failure rate {args.failure_rate:.0%}, {args.instances} instances, {args.hosts} hosts, seed {args.seed}")
    print(f"{'alternates':>10} {'ERROR':>6} {'fraction':>9} {'expected':>9} {'attempts':>9} {'leaked':>7} {'seconds':>8}")
    for row in rows:
        print(
            f"{row['num_alternates']:>10} {row['error']:>6} {row['error_fraction']:>9.4f} "
            f"{row['expected_fraction']:>9.4f} {row['mean_attempts']:>9.3f} {row['leaked_vcpu']:>7} {row['seconds']:>8}"
        )
    if args.json:
        print(json.dumps({
            "failure_rate": args.failure_rate, "instances": args.instances, "hosts": args.hosts,
            "seed": args.seed, "runs": rows,
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
