"""OpenStack Placement 16.0.0 beside berth, for side-by-side benchmarks.

It lives in its own virtualenv (``.cache/peer/placement-venv``; never in
berth's ``.venv``), installed from PyPI with the WSGI server gunicorn and
the PostgreSQL driver it needs, and is served by gunicorn with several
worker processes on 127.0.0.1, configured as upstream's own perf jobs do:
noauth2, the schema created by ``placement-manage db sync``, candidates
randomised.

    python bench/peer/placement.py install
    python bench/peer/placement.py serve --db postgresql+psycopg2://... --workers 2

``serve`` runs in the foreground until interrupted; bench/compare.py uses
``serve_placement`` and stops the server by its process group.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Run as a script, this file's directory is on sys.path, not the repository.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.support import ROOT, ServerProcess, free_port  # noqa: E402

VENV = ROOT / ".cache" / "peer" / "placement-venv"
PACKAGES = ["openstack-placement==16.0.0", "gunicorn==23.0.0", "psycopg2-binary==2.9.13"]


def install() -> Path:
    """The virtualenv with Placement, created on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        base = shutil.which("python3.11") or shutil.which("python3")
        subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import placement, gunicorn, psycopg2"], capture_output=True
    )
    if probe.returncode != 0:
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", *PACKAGES], check=True)
    return VENV


def placement_conf(database_url: str, randomize: bool) -> str:
    return "\n".join([
        "[api]", "auth_strategy = noauth2", "",
        "[placement_database]", f"connection = {database_url}", "",
        "[placement]", f"randomize_allocation_candidates = {randomize}", "",
    ])


def serve_placement(database_url: str, workdir: Path, workers: int = 2, randomize: bool = True) -> ServerProcess:
    """Placement under gunicorn on a free port of 127.0.0.1, ready."""
    venv = install()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "placement.conf").write_text(placement_conf(database_url, randomize))
    # The schema is created once, before the workers start: with
    # sync_on_startup every worker would race to create the same tables.
    subprocess.run(
        [str(venv / "bin" / "placement-manage"), "--config-dir", str(workdir), "db", "sync"],
        check=True, capture_output=True,
    )
    port = free_port()
    argv = [
        str(venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--timeout", "600", "--chdir", str(workdir), "placement.wsgi.api:application",
    ]
    return ServerProcess(
        argv, port, workdir / f"placement-{port}.log",
        env={"OS_PLACEMENT_CONFIG_DIR": str(workdir)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help="create the virtualenv and install Placement")
    serve = commands.add_parser("serve", help="serve Placement until interrupted")
    serve.add_argument("--db", required=True, help="SQLAlchemy URL (sqlite:///... or postgresql+psycopg2://...)")
    serve.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.command == "install":
        print(install())
        return
    server = serve_placement(args.db, Path(tempfile.mkdtemp(prefix="placement-")), args.workers)
    print(f"Placement on {server.base} (process group {server.process.pid}); Ctrl-C stops it")
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
