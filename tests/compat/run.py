"""Run upstream Placement's gabbi suite against a live server: ``make compat``.

    python -m tests.compat.run                      # all 79 files against berth
    python -m tests.compat.run cors.yaml inventory.yaml
    python -m tests.compat.run --target placement --placement-venv /tmp/placement-venv

Prints a table of files with passed/failed counts and ends with the line
``compat: N passed, M failed``. Results are saved as JSON (--json) for
``python -m tests.compat.report``. The exit status is 0 when the failures
are exactly the expected ones: known_failures.txt (for --target berth, or
--known-failures FILE) plus the harness's own limitations.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from . import upstream_suite
from .file_runner import add_launcher_arguments, launcher_from_namespace
from .known_failures import expected_failures
from .outcomes import FAILED, PASSED, SKIPPED, FileResult, SuiteResult, save_suite_result
from .suite_runner import DEFAULT_WORKERS, run_suite

DEFAULT_JSON = upstream_suite.cache_dir() / "last-results.json"
MAX_LISTED = 60


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run upstream Placement's gabbi suite against a live server.")
    add_launcher_arguments(parser)
    parser.add_argument("files", nargs="*", help="YAML file names (default: all)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help=f"files run in parallel (default {DEFAULT_WORKERS})")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON,
                        help=f"where to save the results (default {DEFAULT_JSON})")
    parser.add_argument("--known-failures", type=Path,
                        help="expected failures (default: known_failures.txt "
                        "for --target berth; for placement only the harness's own "
                        "limitations)")
    parser.add_argument("--list-failures", action="store_true",
                        help="list every failing test with its first line")
    return parser.parse_args(argv)


def results_table(result: SuiteResult) -> Table:
    table = Table(title=f"upstream Placement 16.0.0 gabbits against {result.target}")
    for column in ("file", "fixture", "tests", "passed", "failed"):
        table.add_column(column, justify="left" if column in ("file", "fixture") else "right")
    show_skipped = result.count(SKIPPED) > 0
    if show_skipped:
        table.add_column("skipped", justify="right")
    for file_result in result.files:
        row = [file_result.file, ", ".join(file_result.fixtures),
               str(len(file_result.outcomes)), str(file_result.count(PASSED)),
               _failed_cell(file_result)]
        table.add_row(*row, *([str(file_result.count(SKIPPED))] if show_skipped else []))
    return table


def _failed_cell(file_result: FileResult) -> str:
    failed = file_result.count(FAILED)
    return f"[red]{failed}[/red]" if failed else "0"


def compare_with_known(console: Console, result: SuiteResult, known: dict[str, str],
                       list_all: bool) -> bool:
    """Print unexpected failures and fixed known failures; True if none."""
    outcomes = result.outcomes()
    unexpected = [o for o in outcomes if o.status == FAILED and o.test_id not in known]
    fixed = [o for o in outcomes if o.status == PASSED and o.test_id in known]
    failing = [o for o in outcomes if o.status == FAILED] if list_all else unexpected
    _print_list(console, "failures not in the known-failures list" if not list_all
                else "failures", [f"{o.test_id}  # {o.summary}" for o in failing])
    _print_list(console, "listed as known failures but passing (remove them)",
                [o.test_id for o in fixed])
    console.print(f"{len(unexpected)} unexpected failures, {len(fixed)} known failures "
                  f"now passing ({len(known)} listed)")
    return not unexpected and not fixed


def _print_list(console: Console, title: str, lines: list[str]) -> None:
    if not lines:
        return
    console.print(f"[bold]{title}[/bold] ({len(lines)}):")
    for line in lines[:MAX_LISTED]:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    if len(lines) > MAX_LISTED:
        console.print(f"  ... and {len(lines) - MAX_LISTED} more (see --json output)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Wide enough for the table when the output is a file or a CI log.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    launcher = launcher_from_namespace(args)

    def progress(file_result: FileResult) -> None:
        console.print(f"  {file_result.file}: {file_result.count(PASSED)} passed, "
                      f"{file_result.count(FAILED)} failed ({file_result.seconds:.1f}s)")

    try:
        result = run_suite(launcher, args.files or None, args.workers, progress)
    except KeyboardInterrupt:  # workers and servers are already stopped
        console.print("interrupted")
        return 130
    save_suite_result(result, args.json)
    console.print(results_table(result))
    console.print(f"results: {args.json}; {result.seconds:.0f}s")
    matches = compare_with_known(console, result,
                                 expected_failures(args.target, args.known_failures),
                                 args.list_failures)
    print(f"compat: {result.count(PASSED)} passed, {result.count(FAILED)} failed")
    return 0 if matches else 1


if __name__ == "__main__":
    sys.exit(main())
