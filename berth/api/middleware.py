"""The ASGI middleware in front of the routes, outermost first:

    RequestIdMiddleware     request id on every answer; Accept defaults; 500s
    MountMiddleware         the service mounted under settings.api.root_path
    CORSMiddleware          (cors.py) only when origins are configured
    AuthMiddleware          credentials, 401 without them
    MicroversionMiddleware  the version, 400/406, openstack-api-version header
    BodyHeadersMiddleware   400 for a body without content type / bad length

Each is a plain ASGI class: the request is read from the scope, headers are
added to ``http.response.start`` on the way out.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers
from starlette.routing import get_route_path

from berth.api import auth, errors, microversion, negotiation

LOG = logging.getLogger("berth.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID = "berth.request_id"
CREDENTIALS = "berth.credentials"
VERSION = "berth.version"


def error_context(scope: Scope) -> errors.ErrorContext:
    headers = Headers(scope=scope)
    return errors.ErrorContext(
        request_id=scope.get(REQUEST_ID, ""),
        accept=headers.get("accept", negotiation.JSON),
        method=scope.get("method", "GET"),
        content_type=headers.get("content-type", ""),
        version=scope.get(VERSION),
    )


async def send_error(scope: Scope, send: Send, err: errors.ApiError) -> None:
    body, content_type = errors.render(err, error_context(scope))
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ] + [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def adding_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    """A ``send`` that appends ``extra`` headers to the response start."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = list(message.get("headers", [])) + extra
        await send(message)

    return wrapped


def _set_header(scope: Scope, name: bytes, value: bytes) -> None:
    scope["headers"] = [(k, v) for k, v in scope["headers"] if k != name]
    scope["headers"].append((name, value))


class RequestIdMiddleware:
    """Gives every request a ``req-<uuid>`` id, sent back in
    ``x-openstack-request-id``, and turns an unexpected exception into a 500
    in the error format. A missing or ``*/*`` Accept becomes JSON, so that
    errors are JSON (as Placement's request log middleware does)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4()}"
        scope[REQUEST_ID] = request_id
        accept = Headers(scope=scope).get("accept")
        if not accept or accept.strip() == "*/*":
            _set_header(scope, b"accept", negotiation.JSON.encode())
        started = False
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
                message["headers"] = list(message.get("headers", [])) + [
                    (b"x-openstack-request-id", request_id.encode())
                ]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            LOG.exception("unexpected error in %s %s", scope["method"], scope["path"])
            if started:
                raise
            await send_error(scope, tracking_send, errors.ApiError(500, str(exc)))
        LOG.info(
            '"%s %s" status: %s microversion: %s',
            scope["method"], scope["path"], status, scope.get(VERSION, "-"),
        )


class MountMiddleware:
    """Serves the API under ``prefix`` as well as at ``/``: a request under
    the prefix gets it moved into ``root_path``, so routes match the rest and
    links carry the prefix. The bare prefix is the root document."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.prefix and scope["type"] == "http":
            route_path = get_route_path(scope)
            if route_path == self.prefix or route_path.startswith(self.prefix + "/"):
                root = scope.get("root_path", "") + self.prefix
                rest = route_path[len(self.prefix):] or "/"
                scope = dict(scope, root_path=root, path=root + rest)
        await self.app(scope, receive, send)


class AuthMiddleware:
    """Finds the caller's credentials with the configured authenticator
    (auth.py, keystone.py) and sends its refusal as it is. The root is
    served without asking it (Placement's PlacementAuthProtocol skips it)."""

    def __init__(self, app: ASGIApp, authenticator: auth.Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if get_route_path(scope) in auth.PUBLIC_PATHS:
            outcome: auth.Credentials | auth.Refusal = auth.ANONYMOUS
        else:
            try:
                outcome = await self.authenticator(scope)
            except Exception:
                LOG.exception("cannot authenticate")
                await send_error(scope, send, errors.ApiError(503, "Authentication is unavailable."))
                return
        if isinstance(outcome, auth.Refusal):
            await _send_refusal(send, outcome)
            return
        scope[CREDENTIALS] = outcome
        await self.app(scope, receive, send)


async def _send_refusal(send: Send, refusal: auth.Refusal) -> None:
    headers = [*refusal.headers, (b"content-length", str(len(refusal.body)).encode())]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": refusal.body})


class MicroversionMiddleware:
    """Negotiates the microversion (400 malformed, 406 unsupported) and names
    it in ``openstack-api-version`` on every answer that follows."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            version = microversion.negotiate(Headers(scope=scope))
        except microversion.VersionNotAcceptable as exc:
            await send_error(scope, send, errors.ApiError(406, str(exc)))
            return
        except microversion.MalformedVersion as exc:
            await send_error(scope, send, errors.ApiError(400, str(exc)))
            return
        scope[VERSION] = version
        header = (microversion.HEADER.encode(), microversion.header_value(version).encode())
        await self.app(scope, receive, adding_headers(send, [header]))


class BodyHeadersMiddleware:
    """A body needs a content type, and Content-Length must be a number."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = _body_header_problem(Headers(scope=scope))
            if problem:
                await send_error(scope, send, errors.ApiError(400, problem, vary=False))
                return
        await self.app(scope, receive, send)


def _body_header_problem(headers: Headers) -> str | None:
    length = headers.get("content-length")
    if not length:
        return None
    try:
        has_body = int(length) > 0
    except ValueError:
        return "content-length header must be an integer"
    if has_body and not headers.get("content-type"):
        return "content-type header required when content-length > 0"
    return None
