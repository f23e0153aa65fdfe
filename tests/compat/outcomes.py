"""Results of running upstream gabbi tests, and their JSON form.

Workers run in separate processes and hand their results back as JSON, so
everything here is plain data that round-trips through ``to_json`` /
``from_json``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"


def test_id(file_name: str, test_name: str) -> str:
    """The identifier used in pytest ids and known_failures.txt."""
    return f"{file_name}::{test_name}"


@dataclasses.dataclass(frozen=True)
class TestOutcome:
    """What happened to one upstream test."""

    file: str
    name: str  # unique within the file (see upstream_suite.unique_names)
    status: str  # PASSED, FAILED or SKIPPED
    summary: str = ""  # first line of the failure, for tables and lists
    detail: str = ""  # full failure text (traceback / gabbi message)

    __test__ = False  # not a pytest test class, despite the name

    @property
    def test_id(self) -> str:
        return test_id(self.file, self.name)


@dataclasses.dataclass(frozen=True)
class FileResult:
    """The outcomes of one YAML file, in file order."""

    file: str
    fixtures: tuple[str, ...]
    outcomes: tuple[TestOutcome, ...]
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)


@dataclasses.dataclass(frozen=True)
class SuiteResult:
    """The outcomes of a whole run, one FileResult per YAML file."""

    target: str
    files: tuple[FileResult, ...]
    seconds: float = 0.0

    def outcomes(self) -> list[TestOutcome]:
        return [outcome for result in self.files for outcome in result.outcomes]

    def count(self, status: str) -> int:
        return sum(result.count(status) for result in self.files)

    def by_test_id(self) -> dict[str, TestOutcome]:
        return {outcome.test_id: outcome for outcome in self.outcomes()}


def file_result_to_dict(result: FileResult) -> dict:
    return dataclasses.asdict(result)


def file_result_from_dict(data: dict) -> FileResult:
    return FileResult(
        file=data["file"],
        fixtures=tuple(data["fixtures"]),
        outcomes=tuple(TestOutcome(**outcome) for outcome in data["outcomes"]),
        seconds=data.get("seconds", 0.0),
    )


def save_suite_result(result: SuiteResult, path: Path) -> None:
    data = {
        "target": result.target,
        "seconds": result.seconds,
        "files": [file_result_to_dict(file_result) for file_result in result.files],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def load_suite_result(path: Path) -> SuiteResult:
    data = json.loads(path.read_text(encoding="utf-8"))
    return SuiteResult(
        target=data["target"],
        files=tuple(file_result_from_dict(item) for item in data["files"]),
        seconds=data.get("seconds", 0.0),
    )
