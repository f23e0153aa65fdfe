"""Connections berth accepts have TCP_NODELAY, also on the listening socket
uvicorn binds for several workers (protocol number 0, on which asyncio
leaves Nagle's algorithm on). A real uvicorn server on 127.0.0.1, stopped
at the end of the test."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import uvicorn

from berth.api.protocol import NoDelayH11Protocol


class RecordingProtocol(NoDelayH11Protocol):
    """Records the TCP_NODELAY option of each connection once berth's
    protocol has set it up."""

    seen: list[int] = []

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        connection = transport.get_extra_info("socket")
        RecordingProtocol.seen.append(connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


async def hello(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


def test_connections_on_a_shared_listening_socket_have_tcp_nodelay():
    config = uvicorn.Config(hello, host="127.0.0.1", port=0, http=RecordingProtocol, log_level="warning",
                            lifespan="off")
    # The socket uvicorn binds and hands to its workers with --workers N.
    listening = config.bind_socket()
    assert listening.proto == 0
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]})
    thread.start()
    try:
        port = listening.getsockname()[1]
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(3):
                assert client.get("/").text == "hello"
        assert RecordingProtocol.seen and all(RecordingProtocol.seen), RecordingProtocol.seen
    finally:
        server.should_exit = True
        thread.join(30)
        listening.close()
