"""The HTTP/1.1 protocol berth serves with: uvicorn's h11 protocol, with
TCP_NODELAY set on every connection.

Works around asyncio setting TCP_NODELAY only on sockets whose protocol
number is IPPROTO_TCP: with ``--workers N`` uvicorn binds the shared
listening socket as ``socket(AF_INET, SOCK_STREAM)`` (protocol 0), so the
connections its workers accept keep Nagle's algorithm on. uvicorn writes
a response's head and body separately; the body then waits for the
client's delayed acknowledgement of the head, about 40 ms on Linux, and
every small answer (GET /usages, GET /) took 40 ms longer with several
workers than with one.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        connection = transport.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
