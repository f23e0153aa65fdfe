"""Upstream Placement's gabbi suite as pytest tests, one per upstream test.

The whole suite (or the files of the selected tests) runs once per session
against live servers (suite_runner), then each upstream test reports its own
outcome under the id ``<file>::<test name>``. Tests in known_failures.txt
are strict xfails: failing is expected, passing fails the run so the entry
gets removed.

Environment: BERTH_COMPAT_TARGET (berth | placement), BERTH_COMPAT_BERTH_BIN,
BERTH_COMPAT_PLACEMENT_VENV, BERTH_COMPAT_WORKERS, BERTH_COMPAT_KNOWN_FAILURES.
Skip the suite with ``-m "not compat"``.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from . import upstream_suite
from .known_failures import expected_failures, known_failures_path
from .launchers import launcher_from_args
from .outcomes import (FAILED, SKIPPED, SuiteResult, TestOutcome, load_suite_result,
                       save_suite_result)
from .suite_runner import run_suite

TARGET = os.environ.get("BERTH_COMPAT_TARGET", "berth")
# With `pytest -n 2 --dist loadgroup` (scripts/run-tests) every compat test
# goes to one xdist worker, which runs the suite while the other worker runs
# the rest; with other --dist modes the lock in compat_results applies.
COMPAT_MARKS = (pytest.mark.compat, pytest.mark.xdist_group("compat"))


def _collect_cases() -> tuple[list[upstream_suite.UpstreamCase], str]:
    """All upstream cases, or the reason they could not be obtained."""
    try:
        return upstream_suite.all_cases(), ""
    except upstream_suite.UpstreamSuiteUnavailable as error:
        return [], str(error)


CASES, UNAVAILABLE = _collect_cases()
EXPECTED = expected_failures(
    TARGET, Path(os.environ["BERTH_COMPAT_KNOWN_FAILURES"])
    if "BERTH_COMPAT_KNOWN_FAILURES" in os.environ else None)


def _as_param(case: upstream_suite.UpstreamCase):
    marks = list(COMPAT_MARKS)
    if case.test_id in EXPECTED:
        marks.append(pytest.mark.xfail(reason=EXPECTED[case.test_id] or "known failure",
                                       strict=True))
    return pytest.param(case, id=case.test_id, marks=marks)


def _selected_files(session: pytest.Session) -> list[str]:
    """Files of the compat tests that survived -k / -m / node-id selection."""
    files = {item.callspec.params["case"].file for item in session.items
             if getattr(item, "callspec", None) and "case" in item.callspec.params}
    return sorted(files)


def _run_selected(session: pytest.Session) -> tuple[SuiteResult, dict[str, TestOutcome]]:
    launcher = launcher_from_args(TARGET, os.environ.get("BERTH_COMPAT_BERTH_BIN"),
                                  os.environ.get("BERTH_COMPAT_PLACEMENT_VENV"))
    result = run_suite(launcher, _selected_files(session))
    return result, result.by_test_id()


@pytest.fixture(scope="session")
def compat_results(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> dict[str, TestOutcome]:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _run_selected(request.session)[1]
    # Under pytest-xdist every worker has this session fixture: the first to
    # take the lock runs the suite, the others read its saved results.
    shared = tmp_path_factory.getbasetemp().parent
    with open(shared / "compat-results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = shared / "compat-results.json"
        if saved.exists():
            return load_suite_result(saved).by_test_id()
        result, outcomes = _run_selected(request.session)
        save_suite_result(result, saved)
        return outcomes


@pytest.mark.parametrize("case", [_as_param(case) for case in CASES])
def test_upstream_gabbi(case: upstream_suite.UpstreamCase,
                        compat_results: dict[str, TestOutcome]) -> None:
    outcome = compat_results.get(case.test_id)
    if outcome is None:
        pytest.fail("not run", pytrace=False)
    if outcome.status == SKIPPED:
        pytest.skip(outcome.summary)
    if outcome.status == FAILED:
        pytest.fail(f"{outcome.summary}\n\n{outcome.detail}", pytrace=False)


@pytest.mark.compat
@pytest.mark.xdist_group("compat")
def test_upstream_suite_obtained() -> None:
    assert not UNAVAILABLE, f"upstream gabbi suite unavailable: {UNAVAILABLE}"
    assert len(CASES) == 1316, "openstack-placement 16.0.0 has 1316 gabbi tests"


@pytest.mark.compat
@pytest.mark.xdist_group("compat")
def test_known_failures_name_upstream_tests() -> None:
    """Every entry names a real upstream test (catches typos and stale ids)."""
    if UNAVAILABLE:
        pytest.skip("upstream suite unavailable")
    known_ids = {case.test_id for case in CASES}
    unknown = sorted(set(expected_failures("berth", known_failures_path())) - known_ids)
    assert not unknown, f"not upstream tests: {unknown}"
