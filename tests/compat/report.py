"""Turn saved results (run.py --json) into docs and the known-failures list.

    python -m tests.compat.report docs            # per-file table in docs/compatibility.md
    python -m tests.compat.report known-failures  # drop entries that now pass
    python -m tests.compat.report known-failures --add-new   # also list new failures

known_failures.txt only ever shrinks: by default entries that now pass are
removed and new failures are printed, not added. --add-new is for the first
list, or for a deliberate decision to accept a regression.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from pathlib import Path

from .known_failures import (HARNESS_LIMITATIONS, known_failures_path,
                             load_known_failures, write_known_failures)
from .outcomes import FAILED, PASSED, SuiteResult, load_suite_result
from .run import DEFAULT_JSON
from .upstream_suite import REPO_ROOT

DOC_PATH = REPO_ROOT / "docs" / "compatibility.md"
TABLE_START = "<!-- compat-results:start -->"
TABLE_END = "<!-- compat-results:end -->"
KNOWN_FAILURES_HEADER = """\
Upstream Placement gabbi tests that berth fails today, one a line:
file.yaml::test name  # reason
Listed and failing: expected (xfail). Listed and passing: the run fails, so
remove the line (python -m tests.compat.report known-failures does it).
The list only shrinks; see docs/compatibility.md."""


# (pattern on a failure summary, reason written to known_failures.txt)
_REASONS = (
    (re.compile(r"^GET /allocation_candidates: got 404"),
     "allocation candidates not implemented (GET /allocation_candidates: 404)"),
    (re.compile(r"unable to replace \$RESPONSE in \$HISTORY\['([^']*)'\]"),
     "needs the response of the failing test '{0}'"),
    (re.compile(r"unable to replace \$RESPONSE in \$RESPONSE"),
     "needs the response of the previous, failing test"),
)


def reason_for(summary: str) -> str:
    """A short, stable reason: a known cause, else the failure's first line."""
    for pattern, reason in _REASONS:
        match = pattern.search(summary)
        if match:
            return reason.format(*match.groups())
    return summary


def markdown_table(result: SuiteResult) -> str:
    today = datetime.date.today().isoformat()
    total = len(result.outcomes())
    lines = [
        f"Last recorded run: target `{result.target}`, {today}: "
        f"**{result.count(PASSED)} passed, {result.count(FAILED)} failed** "
        f"of {total} tests.",
        "",
        "| file | fixture | tests | passed | failed |",
        "|---|---|---:|---:|---:|",
    ]
    for file_result in result.files:
        lines.append(
            f"| {file_result.file} | {', '.join(file_result.fixtures)} | "
            f"{len(file_result.outcomes)} | {file_result.count(PASSED)} | "
            f"{file_result.count(FAILED)} |")
    return "\n".join(lines)


def update_doc(result: SuiteResult, doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{doc} has no {TABLE_START} ... {TABLE_END} block")
    block = f"{TABLE_START}\n{markdown_table(result)}\n{TABLE_END}"
    doc.write_text(pattern.sub(lambda match: block, text), encoding="utf-8")


def updated_known_failures(result: SuiteResult, current: dict[str, str],
                           add_new: bool) -> tuple[dict[str, str], list[str]]:
    """(new list, failures left out of it). Untested entries are kept."""
    outcomes = result.by_test_id()
    kept = {test_id: reason for test_id, reason in current.items()
            if test_id not in outcomes or outcomes[test_id].status == FAILED}
    new = {test_id: reason_for(outcome.summary) for test_id, outcome in outcomes.items()
           if outcome.status == FAILED and test_id not in current
           and test_id not in HARNESS_LIMITATIONS}
    if add_new:
        return {**kept, **new}, []
    return kept, sorted(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("docs", "known-failures"))
    parser.add_argument("--results", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--add-new", action="store_true",
                        help="known-failures: also add failures not yet listed")
    args = parser.parse_args(argv)
    result = load_suite_result(args.results)
    if args.command == "docs":
        update_doc(result, DOC_PATH)
        print(f"updated {DOC_PATH}")
        return 0
    if result.target != "berth":
        raise SystemExit(f"{args.results} is a run against {result.target}, not berth")
    path = known_failures_path()
    current = load_known_failures(path)
    entries, left_out = updated_known_failures(result, current, args.add_new)
    write_known_failures(entries, path, KNOWN_FAILURES_HEADER)
    print(f"{path}: {len(current)} -> {len(entries)} entries")
    for test_id in left_out:
        print(f"  new failure, not added: {test_id}")
    return 1 if left_out else 0


if __name__ == "__main__":
    sys.exit(main())
