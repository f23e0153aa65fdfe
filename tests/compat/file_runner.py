"""Run one upstream YAML file against a fresh server; the worker process.

``python -m tests.compat.file_runner --gabbits DIR --workdir DIR --out R.json
[--target berth|placement ...] FILE.yaml`` starts a server configured for the
file's fixtures, with a new empty SQLite database, runs the file's tests in
order with gabbi, stops the server by PID, and writes a FileResult as JSON.
One file per process: gabbi fixtures talk through os.environ and module
state, which must not leak from one file into the next.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import time
import unittest
from pathlib import Path

from gabbi import handlers as gabbi_handlers
from gabbi import suitemaker

from . import gabbi_fixtures, upstream_suite
from .launchers import Launcher, ServerStartError, launcher_from_args, running_server
from .outcomes import FAILED, PASSED, SKIPPED, FileResult, TestOutcome, file_result_to_dict
from .server_config import ServerConfig

FIXTURE_FAILURE_REASON = "fixture failure"  # what gabbi's GabbiSuite.run says
MAX_DETAIL = 6000


def server_config_for(fixture_names: tuple[str, ...]) -> ServerConfig:
    """The config of the file's fixture (every upstream file names one)."""
    configs = [getattr(gabbi_fixtures, name).server_config for name in fixture_names]
    return configs[-1] if configs else gabbi_fixtures.APIFixture.server_config


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
STATUS_MISMATCH = re.compile(r"'(\d{3})' not found in \[([^\]]*)\], response:")


def summarize(error: BaseException) -> str:
    """One line: the gabbi assertion, or for a wrong status code the status
    and the error body's detail. UUIDs (new every run) become <uuid>, so the
    same failure reads the same in every run."""
    text = UUID.sub("<uuid>", str(error))
    mismatch = STATUS_MISMATCH.search(text)
    if mismatch:
        expected = mismatch.group(2).replace("'", "")
        detail = _error_detail(text[mismatch.end():])
        return f"got {mismatch.group(1)}, expected {expected}{detail}"[:300]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


def _error_detail(body: str) -> str:
    """': <detail>' from a Placement error body, '' if there is none."""
    try:
        detail = json.loads(body)["errors"][0]["detail"]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""
    lines = [line.strip() for line in str(detail).splitlines() if line.strip()]
    # Placement's details start with the status's generic phrase; the
    # specific reason, when there is one, is the line after it.
    return f": {lines[-1]}" if lines else ""


def request_line(test: unittest.TestCase) -> str:
    """'METHOD /path' of a gabbi test, without the query string."""
    data = getattr(test, "test_data", {})
    return f"{data.get('method', '?')} {str(data.get('url', '?')).split('?')[0]}"


class OutcomeCollector(unittest.TestResult):
    """Records each gabbi test's outcome by its position in the file."""

    def __init__(self, tests: list[unittest.TestCase]):
        super().__init__()
        self.positions = {id(test): index for index, test in enumerate(tests)}
        self.results: dict[int, tuple[str, str, str]] = {}
        self.fixture_error = ""

    def _record(self, test, status: str, summary: str = "", detail: str = "") -> None:
        index = self.positions.get(id(test))
        if index is not None and index not in self.results:
            self.results[index] = (status, summary, detail[:MAX_DETAIL])

    def _record_error(self, test, err) -> None:
        summary = f"{request_line(test)}: {summarize(err[1])}"
        detail = self._exc_info_to_string(err, test)
        if not self.results:  # gabbi reports a fixture error on the first test
            self.fixture_error = summary
        self._record(test, FAILED, summary, detail)

    def addSuccess(self, test):
        self._record(test, PASSED)

    def addFailure(self, test, err):
        self._record_error(test, err)

    def addError(self, test, err):
        self._record_error(test, err)

    def addSkip(self, test, reason):
        # After a fixture error gabbi "skips" the whole file: that is a failure.
        if reason == FIXTURE_FAILURE_REASON:
            self._record(test, FAILED, f"fixture failed: {self.fixture_error}")
        else:
            self._record(test, SKIPPED, reason)

    def addExpectedFailure(self, test, err):  # gabbi's own "xfail: true"
        self._record(test, PASSED, "expected failure (xfail in the YAML)")

    def addUnexpectedSuccess(self, test):
        self._record(test, FAILED, "unexpected success (xfail in the YAML)")


def build_gabbi_suite(yaml_path: Path, document: dict, host: str,
                      port: int) -> unittest.TestSuite:
    """The file's tests as one ordered gabbi suite aimed at host:port."""
    handler_objects = [handler() for handler in gabbi_handlers.RESPONSE_HANDLERS]
    return suitemaker.test_suite_from_dict(
        unittest.TestLoader(), yaml_path.stem, document, str(yaml_path.parent),
        host, port, gabbi_fixtures, None, handlers=handler_objects,
        test_loader_name="upstream_placement")


def run_yaml_file(yaml_path: Path, launcher: Launcher, workdir: Path) -> FileResult:
    document = upstream_suite.load_yaml(yaml_path)
    fixtures = upstream_suite.fixture_names(document)
    cases = upstream_suite.cases_in_file(yaml_path)
    started = time.monotonic()
    try:
        with running_server(launcher, server_config_for(fixtures), workdir) as server:
            gabbi_fixtures.bind_server(server.base_url)
            suite = build_gabbi_suite(yaml_path, document, server.host, server.port)
            collector = OutcomeCollector(list(suite))
            suite.run(collector)
            results = collector.results
    except ServerStartError as error:
        results = {case.index: (FAILED, "server did not start", str(error))
                   for case in cases}
    outcomes = tuple(_outcome(case, results.get(case.index)) for case in cases)
    return FileResult(yaml_path.name, fixtures, outcomes, time.monotonic() - started)


def _outcome(case: upstream_suite.UpstreamCase,
             result: tuple[str, str, str] | None) -> TestOutcome:
    status, summary, detail = result or (FAILED, "not run", "")
    return TestOutcome(case.file, case.name, status, summary, detail)


def _raise_on_sigterm() -> None:
    """Turn SIGTERM (timeout, interrupt of the parent) into SystemExit, so
    that running_server's finally block stops the server."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


def add_launcher_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", choices=("berth", "placement"), default="berth",
                        help="server to test (default: berth)")
    parser.add_argument("--berth-bin", help="berth executable "
                        "(default: beside the running python, else on PATH)")
    parser.add_argument("--placement-venv",
                        help="virtualenv with openstack-placement==16.0.0 and gunicorn "
                        "(for --target placement)")


def launcher_from_namespace(args: argparse.Namespace) -> Launcher:
    return launcher_from_args(args.target, args.berth_bin, args.placement_venv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_launcher_arguments(parser)
    parser.add_argument("--gabbits", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("file")
    args = parser.parse_args(argv)
    _raise_on_sigterm()
    result = run_yaml_file(args.gabbits / args.file, launcher_from_namespace(args),
                           args.workdir)
    args.out.write_text(json.dumps(file_result_to_dict(result)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
