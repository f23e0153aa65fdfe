"""Run many YAML files, each in its own worker process, a few at a time.

Each worker (file_runner) owns one server; the parent only schedules,
enforces a per-file time limit, and on interrupt or error terminates its
workers, whose SIGTERM handler stops their servers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from . import upstream_suite
from .launchers import Launcher, die_with_parent, log_tail
from .outcomes import FAILED, FileResult, SuiteResult, TestOutcome, file_result_from_dict

DEFAULT_WORKERS = int(os.environ.get("BERTH_COMPAT_WORKERS", "2"))
FILE_TIMEOUT = float(os.environ.get("BERTH_COMPAT_FILE_TIMEOUT", "300"))
WORKER_STOP_TIMEOUT = 20.0
RUNS_KEPT = 3
PACKAGE_ROOT = Path(__file__).resolve().parents[len(__package__.split("."))]


@dataclasses.dataclass
class _Worker:
    file: str
    process: subprocess.Popen
    started: float
    out_path: Path
    log_path: Path


def new_run_dir() -> Path:
    """A fresh directory for this run's workdirs and logs; old runs pruned."""
    runs = upstream_suite.cache_dir() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    finished = [path for path in runs.iterdir() if not _run_in_progress(path)]
    for old in sorted(finished, key=lambda path: path.stat().st_mtime)[:-RUNS_KEPT]:
        shutil.rmtree(old, ignore_errors=True)
    run_dir = runs / time.strftime(f"%Y%m%d-%H%M%S-{os.getpid()}")
    run_dir.mkdir()
    return run_dir


def _run_in_progress(run_dir: Path) -> bool:
    """Whether the process that made run_dir (named ...-PID) still exists;
    several runs may share the cache (make compat next to pytest)."""
    pid = run_dir.name.rpartition("-")[2]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_suite(launcher: Launcher, files: list[str] | None = None,
              workers: int = DEFAULT_WORKERS,
              on_file_done: Callable[[FileResult], None] | None = None) -> SuiteResult:
    gabbits = upstream_suite.gabbits_dir()
    files = files or upstream_suite.yaml_files(gabbits)
    launcher.check()
    run_dir = new_run_dir()
    started = time.monotonic()
    results = _schedule(launcher, gabbits, _longest_first(gabbits, files), run_dir,
                        max(1, workers), on_file_done or (lambda result: None))
    ordered = tuple(sorted(results, key=lambda result: result.file))
    return SuiteResult(launcher.name, ordered, time.monotonic() - started)


def _longest_first(gabbits: Path, files: list[str]) -> list[str]:
    """Big files first, so two workers finish at about the same time."""
    return sorted(files, key=lambda name: -(gabbits / name).stat().st_size)


def _schedule(launcher: Launcher, gabbits: Path, files: list[str], run_dir: Path,
              workers: int, on_file_done: Callable[[FileResult], None]) -> list[FileResult]:
    pending, active, results = list(files), [], []
    try:
        while pending or active:
            while pending and len(active) < workers:
                active.append(_start_worker(launcher, gabbits, pending.pop(0), run_dir))
            for worker in [w for w in active if _finished_or_late(w)]:
                active.remove(worker)
                result = _collect(gabbits, worker)
                results.append(result)
                on_file_done(result)
            time.sleep(0.05)
    finally:
        for worker in active:  # interrupted or failed: no orphaned servers
            _stop_worker(worker)
    return results


def _start_worker(launcher: Launcher, gabbits: Path, file: str, run_dir: Path) -> _Worker:
    stem = Path(file).stem
    out_path, log_path = run_dir / f"{stem}.json", run_dir / f"{stem}.worker.log"
    command = [
        sys.executable, "-m", f"{__package__}.file_runner", *launcher.args(),
        "--gabbits", str(gabbits), "--workdir", str(run_dir / stem),
        "--out", str(out_path), file,
    ]
    # The package may be imported as "tests.compat" (python -m) or "compat"
    # (pytest's rootdir-relative import); the worker imports it the same way.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
    with log_path.open("wb") as log:
        # die_with_parent: a worker whose parent was killed outright gets
        # SIGTERM and stops its server, instead of finishing its file alone.
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, env=env,
                                   preexec_fn=die_with_parent)
    return _Worker(file, process, time.monotonic(), out_path, log_path)


def _finished_or_late(worker: _Worker) -> bool:
    if worker.process.poll() is not None:
        return True
    if time.monotonic() - worker.started > FILE_TIMEOUT:
        _stop_worker(worker)
        return True
    return False


def _stop_worker(worker: _Worker) -> None:
    """SIGTERM the worker by PID (it stops its server), SIGKILL if stuck."""
    if worker.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            worker.process.send_signal(signal.SIGTERM)
        try:
            worker.process.wait(timeout=WORKER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            # The server dies with it: launchers set PR_SET_PDEATHSIG.
            worker.process.kill()
            worker.process.wait()


def _collect(gabbits: Path, worker: _Worker) -> FileResult:
    try:
        return file_result_from_dict(json.loads(worker.out_path.read_text("utf-8")))
    except (OSError, ValueError, KeyError) as error:
        return _failed_file(gabbits, worker, f"worker produced no result ({error})")


def _failed_file(gabbits: Path, worker: _Worker, reason: str) -> FileResult:
    """Every test of the file failed, e.g. the worker crashed or timed out."""
    elapsed = time.monotonic() - worker.started
    if elapsed > FILE_TIMEOUT:
        reason = f"file did not finish within {FILE_TIMEOUT:.0f}s"
    detail = f"{reason}\nworker log {worker.log_path}:\n{log_tail(worker.log_path)}"
    path = gabbits / worker.file
    outcomes = tuple(
        TestOutcome(case.file, case.name, FAILED, reason, detail)
        for case in upstream_suite.cases_in_file(path))
    fixtures = upstream_suite.fixture_names(upstream_suite.load_yaml(path))
    return FileResult(worker.file, fixtures, outcomes, elapsed)
