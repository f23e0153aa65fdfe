"""Building responses: JSON bodies, empty answers and the caching headers
Placement sends from microversion 1.15."""

from __future__ import annotations

import datetime
import email.utils
from collections.abc import Iterable

import orjson
from starlette.responses import Response

from berth.api.request import ApiRequest

JSON = "application/json"
CACHE_HEADERS_VERSION = "1.15"


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def newest(times: Iterable[datetime.datetime | None]) -> datetime.datetime:
    """The latest of ``times``, or now when there is none (as Placement)."""
    known = [_aware(t) for t in times if t is not None]
    return max(known) if known else utcnow()


def _aware(moment: datetime.datetime) -> datetime.datetime:
    # Stores may hand back naive datetimes; they are UTC.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def http_date(moment: datetime.datetime) -> str:
    return email.utils.format_datetime(
        _aware(moment).astimezone(datetime.timezone.utc), usegmt=True
    )


def _cache_headers(
    req: ApiRequest, last_modified: datetime.datetime | None
) -> dict[str, str]:
    if last_modified is None or not req.wants(CACHE_HEADERS_VERSION):
        return {}
    return {"last-modified": http_date(last_modified), "cache-control": "no-cache"}


def json_response(
    req: ApiRequest,
    body: object,
    *,
    status: int = 200,
    last_modified: datetime.datetime | None = None,
    location: str | None = None,
) -> Response:
    """A JSON answer; ``last_modified`` adds the 1.15 caching headers."""
    headers = _cache_headers(req, last_modified)
    if location:
        headers["location"] = req.absolute_url(location)
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type=JSON
    )


def empty_response(
    req: ApiRequest,
    status: int = 204,
    *,
    location: str | None = None,
    last_modified: datetime.datetime | None = None,
) -> Response:
    """An answer without a body (and without a content type)."""
    headers = _cache_headers(req, last_modified)
    if location:
        headers["location"] = req.absolute_url(location)
    return Response(status_code=status, headers=headers)
