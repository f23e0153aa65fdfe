"""CORS as Placement serves it (oslo.middleware's CORS filter, configured by
``settings.cors``): only present when origins are configured.

A preflight (OPTIONS) still goes through the application; an error answer
(there is no OPTIONS route, so 405) becomes an empty 200, decorated with the
CORS headers only when origin, method and headers are all allowed. Other
requests get ``Access-Control-Allow-Origin`` when their origin is allowed.
"""

from __future__ import annotations

from starlette.datastructures import Headers

from berth.api.middleware import ASGIApp, Message, Receive, Scope, Send
from berth.config import CorsSettings

# Headers a preflight may always ask for (oslo.middleware's simple headers).
SIMPLE_HEADERS = (
    "Accept", "Accept-Language", "Content-Type", "Cache-Control",
    "Content-Language", "Expires", "Last-Modified", "Pragma",
)


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


class CORSMiddleware:
    def __init__(self, app: ASGIApp, settings: CorsSettings) -> None:
        self.app = app
        self.settings = settings
        self.permitted_headers = {
            header.upper() for header in (*settings.allow_headers, *SIMPLE_HEADERS)
        }

    def _allowed_origin(self, origin: str | None) -> str | None:
        if origin is None:
            return None
        if origin in self.settings.allowed_origins:
            return origin
        return "*" if "*" in self.settings.allowed_origins else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["method"] == "OPTIONS":
            await self._preflight(scope, receive, send)
        else:
            await self.app(scope, receive, self._decorating(scope, send))

    def _decorating(self, scope: Scope, send: Send) -> Send:
        origin = self._allowed_origin(Headers(scope=scope).get("origin"))

        async def decorated(message: Message) -> None:
            if origin and message["type"] == "http.response.start":
                message["headers"] = self._simple_headers(message.get("headers", []), origin)
            await send(message)

        return decorated

    def _simple_headers(self, raw: list, origin: str) -> list:
        vary = [v for k, v in raw if k.lower() == b"vary"]
        headers = [(k, v) for k, v in raw if k.lower() != b"vary"]
        headers.append((b"vary", b",".join(vary + [b"Origin"])))
        headers.append((b"access-control-allow-origin", origin.encode()))
        headers.append((b"access-control-allow-credentials", b"true"))
        if self.settings.expose_headers:
            exposed = ",".join(self.settings.expose_headers).encode()
            headers.append((b"access-control-expose-headers", exposed))
        return headers

    async def _preflight(self, scope: Scope, receive: Receive, send: Send) -> None:
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self.app(scope, receive, capture)
        start = captured[0] if captured else {"status": 500, "headers": []}
        if 200 <= start["status"] < 300:
            status, headers = start["status"], list(start.get("headers", []))
            bodies = [m for m in captured[1:] if m["type"] == "http.response.body"]
        else:
            # The application has no OPTIONS: the preflight answer is empty.
            status = 200
            headers = [(b"content-length", b"0")]
            bodies = [{"type": "http.response.body", "body": b""}]
        headers += self._preflight_headers(Headers(scope=scope))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for message in bodies:
            await send(message)

    def _preflight_headers(self, request: Headers) -> list[tuple[bytes, bytes]]:
        origin = self._allowed_origin(request.get("origin"))
        method = request.get("access-control-request-method")
        asked = _split(request.get("access-control-request-headers"))
        if not origin or not method or method not in self.settings.allow_methods:
            return []
        if any(header.upper() not in self.permitted_headers for header in asked):
            return []
        headers = [
            (b"vary", b"Origin"),
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-allow-credentials", b"true"),
        ]
        if self.settings.max_age:
            headers.append((b"access-control-max-age", str(self.settings.max_age).encode()))
        headers.append((b"access-control-allow-methods", method.encode()))
        if asked:
            headers.append((b"access-control-allow-headers", ",".join(asked).encode()))
        return headers
