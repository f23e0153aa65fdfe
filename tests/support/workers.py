"""Which worker process of a running server holds a TCP connection.

``berth serve --workers N`` runs N processes that accept from one listening
socket; a test that must know which one served a request asks the kernel:
the server side of the connection is a socket in /proc/net/tcp (found by
its two ports), and exactly one process has that socket open (Linux only).
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def _hex_address(port: int) -> str:
    # /proc/net/tcp writes 127.0.0.1:port as 0100007F:PORT (little-endian address).
    return f"0100007F:{port:04X}"


def _socket_inode(server_port: int, client_port: int) -> str | None:
    local, remote = _hex_address(server_port), _hex_address(client_port)
    for line in (PROC / "net" / "tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return fields[9]
    return None


def descendants(pid: int) -> list[int]:
    """``pid``'s children, their children, and so on."""
    found, pending = [], [pid]
    while pending:
        parent = pending.pop()
        try:
            children = (PROC / str(parent) / "task" / str(parent) / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.append(child)
            pending.append(child)
    return found


def serving_process(server_pid: int, server_port: int, client_port: int) -> int | None:
    """The process under ``server_pid`` (itself included) holding the server
    side of the connection from ``client_port``; None when no process does
    (not accepted yet, or already closed)."""
    inode = _socket_inode(server_port, client_port)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in [server_pid, *descendants(server_pid)]:
        fds = PROC / str(pid) / "fd"
        try:
            names = os.listdir(fds)
        except OSError:
            continue
        for name in names:
            try:
                if os.readlink(fds / name) == target:
                    return pid
            except OSError:
                continue
    return None
