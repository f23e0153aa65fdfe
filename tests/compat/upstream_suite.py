"""Obtain upstream Placement's gabbi YAML files and list the tests in them.

The YAML is never committed: it is taken from the openstack-placement sdist
on PyPI at test time, checked against a pinned sha256, and cached under
``.cache/compat`` so that later runs do not download it again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

import yaml

from .outcomes import test_id

PLACEMENT_VERSION = "16.0.0"
SDIST_NAME = f"openstack_placement-{PLACEMENT_VERSION}.tar.gz"
SDIST_SHA256 = "ec95a0f74a2be1326f91c377b46cf930838722235e39f741137f80bc7e59fb9c"
GABBITS_IN_SDIST = (
    f"openstack_placement-{PLACEMENT_VERSION}/placement/tests/functional/gabbits"
)
REPO_ROOT = Path(__file__).resolve().parents[2]


class UpstreamSuiteUnavailable(RuntimeError):
    """The sdist could not be downloaded, verified or unpacked."""


@dataclasses.dataclass(frozen=True)
class UpstreamCase:
    """One upstream gabbi test: its file and its (file-unique) name."""

    file: str
    name: str
    index: int  # position in the file, 0-based

    @property
    def test_id(self) -> str:
        return test_id(self.file, self.name)


def cache_dir() -> Path:
    return Path(os.environ.get("BERTH_COMPAT_CACHE", REPO_ROOT / ".cache" / "compat"))


def gabbits_dir() -> Path:
    """The directory of upstream YAML files, downloading it on first use."""
    target = cache_dir() / f"placement-{PLACEMENT_VERSION}-gabbits"
    if target.is_dir():
        return target
    with _cache_lock():
        if not target.is_dir():  # another process may have finished meanwhile
            _unpack_gabbits(_downloaded_sdist(), target)
    return target


def yaml_files(directory: Path | None = None) -> list[str]:
    directory = directory or gabbits_dir()
    return sorted(path.name for path in directory.glob("*.yaml"))


def load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def fixture_names(document: dict) -> tuple[str, ...]:
    return tuple(document.get("fixtures") or ())


def unique_names(names: list[str]) -> list[str]:
    """Make test names unique within a file.

    usage-secure-rbac.yaml repeats two names; gabbi does not care, but
    pytest ids and known_failures.txt need one id per test. The second
    occurrence becomes "name (2)", the third "name (3)", and so on.
    """
    seen: Counter[str] = Counter()
    result = []
    for name in names:
        seen[name] += 1
        result.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return result


def cases_in_file(path: Path) -> list[UpstreamCase]:
    names = [test["name"] for test in load_yaml(path)["tests"]]
    return [
        UpstreamCase(file=path.name, name=name, index=index)
        for index, name in enumerate(unique_names(names))
    ]


def all_cases(directory: Path | None = None) -> list[UpstreamCase]:
    directory = directory or gabbits_dir()
    return [
        case
        for file_name in yaml_files(directory)
        for case in cases_in_file(directory / file_name)
    ]


@contextlib.contextmanager
def _cache_lock():
    """Serialise downloads between concurrent runs (pytest-xdist workers)."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / ".lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _downloaded_sdist() -> Path:
    sdist = cache_dir() / "sdist" / SDIST_NAME
    if not (sdist.is_file() and _sha256(sdist) == SDIST_SHA256):
        _pip_download(sdist.parent)
    if _sha256(sdist) != SDIST_SHA256:
        raise UpstreamSuiteUnavailable(f"{sdist}: sha256 is not {SDIST_SHA256}")
    return sdist


def _pip_download(destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
        "--no-binary", ":all:", f"openstack-placement=={PLACEMENT_VERSION}",
        "--dest", str(destination),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not (destination / SDIST_NAME).is_file():
        raise UpstreamSuiteUnavailable(
            f"pip download failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
        )


def _sha256(path: Path) -> str:
    if not path.is_file():
        return ""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _unpack_gabbits(sdist: Path, target: Path) -> None:
    """Extract only the gabbits directory, then move it into place atomically."""
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        with tarfile.open(sdist) as archive:
            members = [
                member for member in archive.getmembers()
                if member.name.startswith(GABBITS_IN_SDIST + "/") and member.isfile()
            ]
            archive.extractall(scratch, members=members, filter="data")
        extracted = Path(scratch) / GABBITS_IN_SDIST
        if not list(extracted.glob("*.yaml")):
            raise UpstreamSuiteUnavailable(f"{sdist} has no {GABBITS_IN_SDIST}/*.yaml")
        shutil.move(str(extracted), str(target))
