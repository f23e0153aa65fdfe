"""Start and stop one server process for one YAML file.

A Launcher is the only piece that knows a target's command line and config
format: BerthLauncher (the default) and PlacementLauncher (upstream
Placement in its own virtualenv, used to prove the harness and fixtures
correct). Everything else talks to a RunningServer over HTTP.
"""

from __future__ import annotations

import abc
import contextlib
import ctypes
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import yaml

from .server_config import ServerConfig

HOST = "127.0.0.1"
READY_TIMEOUT = float(os.environ.get("BERTH_COMPAT_READY_TIMEOUT", "60"))
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 3
_PR_SET_PDEATHSIG = 1


class ServerStartError(RuntimeError):
    """The server exited or did not answer GET / in time."""


@dataclasses.dataclass(frozen=True)
class LaunchPlan:
    """A command to run, prepared by a Launcher for one port and workdir."""

    argv: tuple[str, ...]
    env: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RunningServer:
    pid: int
    host: str
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class Launcher(abc.ABC):
    """Turns a ServerConfig into files in workdir and a command line."""

    name: str

    @abc.abstractmethod
    def plan(self, config: ServerConfig, workdir: Path, port: int) -> LaunchPlan:
        """Write the target's config files into workdir; return the command."""

    def check(self) -> None:
        """Raise ServerStartError when the target cannot be run at all."""

    def args(self) -> list[str]:
        """Command-line arguments that rebuild this launcher (see from_args)."""
        return ["--target", self.name]


class BerthLauncher(Launcher):
    name = "berth"

    def __init__(self, executable: Path | None = None):
        self.executable = executable or default_berth_executable()

    def check(self) -> None:
        if not self.executable.exists():
            raise ServerStartError(f"{self.executable} does not exist")

    def args(self) -> list[str]:
        return super().args() + ["--berth-bin", str(self.executable)]

    def plan(self, config: ServerConfig, workdir: Path, port: int) -> LaunchPlan:
        config_path = workdir / "berth.toml"
        config_path.write_text(berth_toml(config, workdir), encoding="utf-8")
        return LaunchPlan(argv=(
            str(self.executable), "serve", "--host", HOST, "--port", str(port),
            "--db", sqlite_url(workdir / "berth.db"), "--config", str(config_path),
        ))


class PlacementLauncher(Launcher):
    """Upstream Placement 16.0.0 under gunicorn, from a separate virtualenv.

    The venv needs ``openstack-placement==16.0.0`` and ``gunicorn``; see
    docs/compatibility.md. Config goes to placement.conf in workdir, found
    through OS_PLACEMENT_CONFIG_DIR; sync_on_startup creates the schema.
    """

    name = "placement"

    def __init__(self, venv: Path):
        self.venv = venv

    def check(self) -> None:
        for program in ("gunicorn", "python"):
            if not (self.venv / "bin" / program).exists():
                raise ServerStartError(f"{self.venv}/bin/{program} does not exist")

    def args(self) -> list[str]:
        return super().args() + ["--placement-venv", str(self.venv)]

    def plan(self, config: ServerConfig, workdir: Path, port: int) -> LaunchPlan:
        conf = placement_conf(config, workdir)
        (workdir / "placement.conf").write_text(conf, encoding="utf-8")
        return LaunchPlan(
            argv=(
                str(self.venv / "bin" / "gunicorn"), "--bind", f"{HOST}:{port}",
                "--workers", "1", "--timeout", "120", "--chdir", str(workdir),
                "placement.wsgi.api:application",
            ),
            env={"OS_PLACEMENT_CONFIG_DIR": str(workdir)},
        )


def default_berth_executable() -> Path:
    """berth beside the running interpreter (the project venv), else on PATH."""
    beside = Path(sys.executable).parent / "berth"
    if beside.exists():
        return beside
    found = shutil.which("berth")
    return Path(found) if found else beside


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def write_policy_file(config: ServerConfig, workdir: Path) -> Path | None:
    if not config.policy_rules:
        return None
    path = workdir / "policy.yaml"
    path.write_text(yaml.safe_dump(config.policy_dict()), encoding="utf-8")
    return path


def berth_toml(config: ServerConfig, workdir: Path) -> str:
    # json.dumps gives valid TOML basic strings and arrays of strings.
    lines = ["[api]", 'auth_strategy = "noauth2"', "", "[policy]",
             f"enforce_new_defaults = {str(config.enforce_new_defaults).lower()}"]
    policy_file = write_policy_file(config, workdir)
    if policy_file:
        lines.append(f"file = {json.dumps(str(policy_file))}")
    if config.cors:
        lines += ["", "[cors]",
                  f"allowed_origins = {json.dumps(list(config.cors.allowed_origins))}",
                  f"allow_headers = {json.dumps(list(config.cors.allow_headers))}"]
    return "\n".join(lines) + "\n"


def placement_conf(config: ServerConfig, workdir: Path) -> str:
    lines = ["[api]", "auth_strategy = noauth2", "",
             "[placement_database]",
             f"connection = {sqlite_url(workdir / 'placement.db')}",
             "sync_on_startup = True", "",
             "[oslo_policy]",
             f"enforce_new_defaults = {config.enforce_new_defaults}"]
    policy_file = write_policy_file(config, workdir)
    if policy_file:
        lines.append(f"policy_file = {policy_file}")
    if config.cors:
        lines += ["", "[cors]",
                  f"allowed_origin = {','.join(config.cors.allowed_origins)}",
                  f"allow_headers = {','.join(config.cors.allow_headers)}"]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    # Another process may take the port before the server binds it; start()
    # retries with a new port when the server reports it in use.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(launcher: Launcher, config: ServerConfig,
                   workdir: Path) -> Iterator[RunningServer]:
    """A started, ready server, stopped by PID when the block ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    process, server = _start_on_free_port(launcher, config, workdir)
    try:
        yield server
    finally:
        stop_process(process)


def _start_on_free_port(launcher: Launcher, config: ServerConfig,
                        workdir: Path) -> tuple[subprocess.Popen, RunningServer]:
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        log_path = workdir / f"server-{attempt}.log"
        process = _spawn(launcher.plan(config, workdir, port), log_path)
        server = RunningServer(process.pid, HOST, port, log_path)
        try:
            wait_until_ready(process, server)
            return process, server
        except BaseException as error:
            stop_process(process)
            if not (isinstance(error, ServerStartError) and _port_was_taken(log_path)
                    and attempt < PORT_ATTEMPTS):
                raise
    raise AssertionError("unreachable")


def _spawn(plan: LaunchPlan, log_path: Path) -> subprocess.Popen:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            plan.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=log_path.parent, env={**os.environ, **plan.env},
            # Own process group: stop_process can clean up a server's own
            # children (gunicorn workers) by group id.
            start_new_session=True,
            preexec_fn=die_with_parent,
        )


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this child when its parent dies (preexec_fn).

    Works around SIGKILL of a parent (timeouts, OOM), where no finally
    block runs and the child would otherwise outlive the run.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_until_ready(process: subprocess.Popen, server: RunningServer,
                     timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if has_exited(process):
            raise ServerStartError(f"server exited:\n{log_tail(server.log_path)}")
        if listens_on(process.pid, server.port) and _answers_root(server.base_url):
            return
        time.sleep(0.1)
    raise ServerStartError(
        f"no 200 from GET {server.base_url}/ within {timeout:.0f}s:\n"
        f"{log_tail(server.log_path)}")


def listens_on(pid: int, port: int) -> bool:
    """Whether process pid itself holds the listening socket on port.

    Guards against a free_port() race: if another run's server took the
    port, GET / would answer 200 from the wrong server while ours is still
    starting (and about to fail to bind).
    """
    inodes = _listening_inodes(port)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
    return False


def _listening_inodes(port: int) -> set[str]:
    """'socket:[inode]' of IPv4 sockets listening on port (/proc/net/tcp)."""
    listen_state = "0A"
    found = set()
    with open("/proc/net/tcp", encoding="ascii") as table:
        next(table)  # header
        for row in table:
            fields = row.split()
            local_port = int(fields[1].rpartition(":")[2], 16)
            if local_port == port and fields[3] == listen_state:
                found.add(f"socket:[{fields[9]}]")
    return found


def _answers_root(base_url: str) -> bool:
    try:
        return httpx.get(base_url + "/", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def has_exited(process: subprocess.Popen) -> bool:
    """Whether the process ended, without reaping it.

    Popen.poll() would reap it, and then its PID (which is also its process
    group id) could be reused by an unrelated process before stop_process
    signals the group. A zombie keeps the id reserved.
    """
    if process.returncode is not None:
        return True
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    try:
        return os.waitid(os.P_PID, process.pid, flags) is not None
    except ChildProcessError:
        return True


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM the server by PID, then SIGKILL what is left of its group."""
    if not has_exited(process):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        _wait_for_exit(process, STOP_TIMEOUT)
    if process.returncode is None:
        # The group id is the server's PID (start_new_session), still held by
        # the unreaped leader: this reaches only processes the server started.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_for_exit(process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not has_exited(process) and time.monotonic() < deadline:
        time.sleep(0.05)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _port_was_taken(log_path: Path) -> bool:
    text = log_tail(log_path, 200).lower()
    return "address already in use" in text or "errno 98" in text


def launcher_from_args(target: str, berth_bin: str | None = None,
                       placement_venv: str | None = None) -> Launcher:
    if target == "berth":
        return BerthLauncher(Path(berth_bin) if berth_bin else None)
    if target == "placement":
        if not placement_venv:
            raise SystemExit("--target placement needs --placement-venv DIR")
        return PlacementLauncher(Path(placement_venv))
    raise SystemExit(f"unknown target {target!r} (berth or placement)")
