"""API errors: Placement's error codes, the error body, and the one table
that turns domain errors (``berth.placement.errors``) into HTTP answers.

Every error leaves as ``{"errors": [{"status", "title", "detail", "code",
"request_id"}]}`` (``code`` from microversion 1.23). ``detail`` is built the
way Placement's WebOb exceptions build it: the status's standard explanation,
a blank line, then the specific message, with newlines folded into spaces.
Clients and Placement's own tests match on those strings, so they are kept.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Mapping

import orjson

from berth.api import microversion, negotiation
from berth.placement import errors as domain

# Placement's error codes. The strings are part of the API: never change or
# reuse one.
DEFAULT = "placement.undefined_code"
INVENTORY_INUSE = "placement.inventory.inuse"
CONCURRENT_UPDATE = "placement.concurrent_update"
DUPLICATE_NAME = "placement.duplicate_name"
PROVIDER_IN_USE = "placement.resource_provider.inuse"
PROVIDER_CANNOT_DELETE_PARENT = "placement.resource_provider.cannot_delete_parent"
RESOURCE_PROVIDER_NOT_FOUND = "placement.resource_provider.not_found"
ILLEGAL_DUPLICATE_QUERYPARAM = "placement.query.duplicate_key"
QUERYPARAM_BAD_VALUE = "placement.query.bad_value"
QUERYPARAM_MISSING_VALUE = "placement.query.missing_value"

ERROR_CODE_VERSION = microversion.parse("1.23")

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

# WebOb's explanation of each status, which Placement puts before every
# detail. 405, 406 and 415 name something from the request.
_EXPLANATIONS = {
    400: "The server could not comply with the request since it is either "
    "malformed or otherwise incorrect.",
    401: "This server could not verify that you are authorized to access the "
    "document you requested. Either you supplied the wrong credentials (e.g., "
    "bad password), or your browser does not understand how to supply the "
    "credentials required.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The method {method} is not allowed for this resource. ",
    406: "The resource could not be generated that was acceptable to your "
    "browser (content of type {accept}. ",
    409: "There was a conflict when trying to complete your request.",
    415: "The request media type {content_type} is not supported by this server. ",
    500: "The server has either erred or is incapable of performing the "
    "requested operation.",
    503: "The server is currently unavailable. Please try again at a later time.",
}
# Statuses whose WebOb template ends right after the detail.
_SHORT_TEMPLATE = {405, 406, 415}


class ApiError(Exception):
    """An error answer. ``vary`` is False for the errors Placement raises
    outside its handlers (routing 404, policy 403, unhandled NotFound), which
    leave without ``vary: openstack-api-version``."""

    def __init__(
        self,
        status: int,
        detail: str = "",
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        vary: bool = True,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.headers = dict(headers or {})
        self.vary = vary


def bad_request(detail: str, code: str | None = None) -> ApiError:
    return ApiError(400, detail, code=code)


def not_found(detail: str = "") -> ApiError:
    return ApiError(404, detail)


def conflict(detail: str, code: str | None = None) -> ApiError:
    return ApiError(409, detail, code=code)


# -- domain errors -----------------------------------------------------------

# Status and code per domain error; the most specific class listed wins.
_DOMAIN_TABLE: dict[type[domain.BerthError], tuple[int, str | None]] = {
    domain.NotFound: (404, None),
    domain.Conflict: (409, None),
    domain.ConcurrentUpdate: (409, CONCURRENT_UPDATE),
    domain.DuplicateProviderName: (409, DUPLICATE_NAME),
    # Placement reports a duplicate uuid with the duplicate-name code too.
    domain.ProviderExists: (409, DUPLICATE_NAME),
    domain.ProviderInUse: (409, PROVIDER_IN_USE),
    domain.CannotDeleteParent: (409, PROVIDER_CANNOT_DELETE_PARENT),
    domain.InventoryInUse: (409, INVENTORY_INUSE),
    domain.InvalidRequest: (400, None),
    domain.StoreUnavailable: (503, None),
}


def from_domain(
    exc: domain.BerthError,
    detail: str | None = None,
    *,
    in_body: bool = False,
    code: str | None = None,
) -> ApiError:
    """The answer for a domain error. ``detail`` replaces the error's own
    message (handlers add Placement's context to it); ``in_body`` says the
    missing thing was named in the request body, which makes a NotFound a
    400; ``code`` overrides the table where Placement uses another code."""
    for klass in type(exc).__mro__:
        if klass in _DOMAIN_TABLE:
            status, table_code = _DOMAIN_TABLE[klass]
            break
    else:
        raise exc
    unhandled_not_found = status == 404 and detail is None
    if status == 404 and in_body:
        status = 400
    return ApiError(
        status,
        str(exc) if detail is None else detail,
        code=code or table_code,
        vary=not unhandled_not_found,
    )


# -- rendering ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ErrorContext:
    """What the error body needs to know about the request."""

    request_id: str
    accept: str = negotiation.JSON
    method: str = "GET"
    content_type: str = ""
    version: microversion.Version | None = None


_TAG = re.compile(r"<.*?>", re.S)


def _explanation(status: int, ctx: ErrorContext) -> str:
    template = _EXPLANATIONS.get(status, "")
    return template.format(
        method=ctx.method,
        accept=ctx.accept,
        content_type=ctx.content_type or "None",
    )


def json_detail(status: int, detail: str, ctx: ErrorContext) -> str:
    """The ``detail`` string exactly as Placement shapes it."""
    folded = _TAG.sub("", detail.replace("\n", " ").replace("\r", ""))
    explanation = _explanation(status, ctx)
    if status in _SHORT_TEMPLATE:
        return f"{explanation}\n\n {folded}"
    return f"{explanation}\n\n {folded}  "


def error_document(err: ApiError, ctx: ErrorContext) -> dict:
    entry: dict[str, object] = {
        "status": err.status,
        "title": TITLES.get(err.status, "Error"),
        "detail": json_detail(err.status, err.detail, ctx),
    }
    if ctx.version is not None and ctx.version >= ERROR_CODE_VERSION:
        entry["code"] = err.code or DEFAULT
    entry["request_id"] = ctx.request_id
    if err.status == 406 and ctx.version is None:
        # Version negotiation failed: say which versions exist.
        entry["max_version"] = str(microversion.MAX_VERSION)
        entry["min_version"] = str(microversion.MIN_VERSION)
    return {"errors": [entry]}


def _html_body(err: ApiError, ctx: ErrorContext) -> str:
    status_line = f"{err.status} {TITLES.get(err.status, 'Error')}"
    explanation = html.escape(_explanation(err.status, ctx))
    return (
        f"<html>\n <head>\n  <title>{status_line}</title>\n </head>\n"
        f" <body>\n  <h1>{status_line}</h1>\n"
        f"  {explanation}<br /><br />\n{html.escape(err.detail)}\n\n"
        f" </body>\n</html>"
    )


def render(err: ApiError, ctx: ErrorContext) -> tuple[bytes, str]:
    """The body and content type of an error, in the format Accept prefers."""
    media = negotiation.error_media_type(ctx.accept)
    if media == negotiation.HTML:
        return _html_body(err, ctx).encode(), "text/html; charset=UTF-8"
    if media == negotiation.JSON:
        return orjson.dumps(error_document(err, ctx)), negotiation.JSON
    status_line = f"{err.status} {TITLES.get(err.status, 'Error')}"
    text = f"{status_line}\n\n{json_detail(err.status, err.detail, ctx)}"
    return text.encode(), "text/plain; charset=UTF-8"


def unauthorized_body() -> bytes:
    """The 401 of Placement's noauth2 middleware, which is not in the
    API-WG shape (WebOb's own JSON format)."""
    message = _EXPLANATIONS[401] + "<br /><br />\n\n\n"
    return orjson.dumps(
        {"message": message, "code": "401 Unauthorized", "title": "Unauthorized"}
    )
