"""Instructions per scheduling decision, counted by valgrind's callgrind.

This machine's speed changes by up to half from one minute to the next, so
two timed runs of the same code can differ more than two versions of it.
The count of instructions a decision executes does not move with the
machine: run the same code twice and it agrees within about one percent.
It is a proxy, not a time: it does not see the kernel (system calls, the
page cache) nor memory stalls, and counts a ``rep movsb`` copy byte by byte.

Loads a flat fleet of N hosts as bench/schedule.py does, then runs one
scheduler in one process under ``valgrind --tool=callgrind`` with counting
off; after a warm-up it turns counting on (``callgrind_control``), makes
``--requests`` select_destinations calls (each claimed in the store), and
turns it off again.

    python bench/instructions.py                           # 10,000 hosts, 1 instance, 200 requests
    python bench/instructions.py --instances 100 --requests 10 --json

Needs valgrind (Debian package ``valgrind``). Figures are recorded in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.schedule import _spec, load_fleet  # noqa: E402
from berth.config import SchedulerSettings  # noqa: E402
from berth.scheduler import Scheduler  # noqa: E402
from berth.store import open_store  # noqa: E402

WARM_UP = 30
_TOTALS = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)


def _counting(on: bool) -> None:
    subprocess.run(
        ["callgrind_control", "--instr=" + ("on" if on else "off"), str(os.getpid())],
        check=True, capture_output=True,
    )


def measured(database: Path, instances: int, requests: int) -> None:
    """The part that runs under valgrind."""
    store = open_store(f"sqlite:///{database}")
    rng = random.Random(0)
    scheduler = Scheduler(store, SchedulerSettings(), rng=rng)
    scheduler.finder.refresh()
    for _ in range(WARM_UP):
        scheduler.select_destinations(_spec(rng), instances, 2)
    specs = [_spec(rng) for _ in range(requests)]
    _counting(True)
    for spec in specs:
        scheduler.select_destinations(spec, instances, 2)
    _counting(False)
    store.close()


def count(hosts: int, instances: int, requests: int) -> int:
    """Instructions per request, all of them in one process."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("bench/instructions.py needs valgrind (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="berth-instructions-") as tmp:
        database = Path(tmp) / "fleet.db"
        load_fleet(database, hosts)
        output = Path(tmp) / "callgrind.out"
        subprocess.run(
            [
                "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={output}",
                sys.executable, __file__, "--measured", str(database),
                "--instances", str(instances), "--requests", str(requests),
            ],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        found = _TOTALS.search(output.read_text())
        if found is None:
            raise SystemExit(f"no totals in {output}")
        return int(found.group(1)) // requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--instances", type=int, default=1, help="num_instances of each request")
    parser.add_argument("--requests", type=int, default=200, help="requests counted (after a warm-up)")
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    parser.add_argument("--measured", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measured is not None:
        measured(args.measured, args.instances, args.requests)
        return
    per_request = count(args.hosts, args.instances, args.requests)
    print(
        f"hosts={args.hosts} instances/request={args.instances} requests={args.requests}  "
        f"{per_request:,} instructions per request, {per_request // args.instances:,} per placement",
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps({
            "hosts": args.hosts, "num_instances": args.instances, "requests": args.requests,
            "instructions_per_request": per_request,
            "instructions_per_placement": per_request // args.instances,
        }))


if __name__ == "__main__":
    main()
