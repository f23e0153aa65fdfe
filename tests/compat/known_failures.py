"""tests/compat/known_failures.txt: upstream tests berth is known to fail.

One test a line, ``file.yaml::test name  # reason``; blank lines and lines
starting with ``#`` are ignored. Such a test failing is an expected failure;
passing, it makes the run fail (strict xpass), so fixed tests must be
removed from the list: it only ever shrinks.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_PATH = Path(__file__).with_name("known_failures.txt")

# Tests no server can pass through this harness, whatever the target: they
# are expected failures everywhere (strict, like the list).
HARNESS_LIMITATIONS = {
    "basic-http.yaml::bad content length not int":
        "harness: httpx (h11) refuses to send a non-integer Content-Length, "
        "so the request never leaves the client (upstream runs it in-process)",
}
REASON_SEPARATOR = "  # "  # two spaces: test names may contain " #"


def known_failures_path() -> Path:
    return Path(os.environ.get("BERTH_COMPAT_KNOWN_FAILURES", DEFAULT_PATH))


def parse_line(line: str) -> tuple[str, str] | None:
    """(test id, reason) of one line, or None for blanks and comments."""
    stripped = line.rstrip("\n")
    if not stripped.strip() or stripped.lstrip().startswith("#"):
        return None
    test_id, _, reason = stripped.partition(REASON_SEPARATOR)
    return test_id.strip(), reason.strip()


def expected_failures(target: str, path: Path | None = None) -> dict[str, str]:
    """Harness limitations, plus the list file for berth (or an explicit one)."""
    listed = load_known_failures(path) if (path or target == "berth") else {}
    return {**HARNESS_LIMITATIONS, **listed}


def load_known_failures(path: Path | None = None) -> dict[str, str]:
    """Test id -> reason. A missing file means no known failures."""
    path = path or known_failures_path()
    if not path.exists():
        return {}
    entries = (parse_line(line) for line in path.read_text("utf-8").splitlines())
    return dict(entry for entry in entries if entry)


def format_line(test_id: str, reason: str) -> str:
    reason = " ".join(reason.split())[:160]  # one line, kept short
    return f"{test_id}{REASON_SEPARATOR}{reason}" if reason else test_id


def write_known_failures(entries: dict[str, str], path: Path, header: str) -> None:
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [format_line(test_id, reason) for test_id, reason in sorted(entries.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
