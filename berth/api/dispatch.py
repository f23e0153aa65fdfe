"""From a matched route to a handler's answer.

Each path of the route table gets one endpoint. It picks the method's handler
for the request's microversion, checks content type and Accept where the
handler declares them, runs the handler in a worker thread (handlers are
plain functions over the blocking store) and turns every exception into an
answer in the error format.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from berth.api import errors, microversion, negotiation
from berth.api.middleware import CREDENTIALS, VERSION, error_context
from berth.api.policy import PolicyEnforcer
from berth.api.request import ApiRequest
from berth.config import Settings
from berth.placement.candidates.finder import CandidateFinder
from berth.placement.errors import BerthError
from berth.store.port import Store

LOG = logging.getLogger("berth.api")

Handler = Callable[[ApiRequest], Response]


def json_body(handler: Handler) -> Handler:
    """The handler reads a JSON body: other content types get 415."""
    handler.requires_json_body = True  # type: ignore[attr-defined]
    return handler


def json_answer(handler: Handler) -> Handler:
    """The handler answers JSON: an Accept that excludes it gets 406."""
    handler.answers_json = True  # type: ignore[attr-defined]
    return handler


@dataclasses.dataclass(frozen=True, slots=True)
class Services:
    """What every handler may use, shared by all requests."""

    store: Store
    settings: Settings
    enforcer: PolicyEnforcer
    candidates: CandidateFinder | None = None


def error_response(err: errors.ApiError, ctx: errors.ErrorContext) -> Response:
    body, content_type = errors.render(err, ctx)
    headers = dict(err.headers)
    if err.vary and ctx.version is not None:
        headers["vary"] = microversion.HEADER
    return Response(body, status_code=err.status, headers=headers, media_type=content_type)


def _check_media(handler: Handler, req: ApiRequest) -> None:
    if getattr(handler, "requires_json_body", False):
        given = negotiation.media_type(req.headers.get("content-type"))
        if given != negotiation.JSON:
            raise errors.ApiError(
                415,
                f"The media type {given or 'None'} is not supported, "
                f"use {negotiation.JSON}",
            )
    if getattr(handler, "answers_json", False):
        if not negotiation.accepts_json(req.headers.get("accept", negotiation.JSON)):
            raise errors.ApiError(406, f"Only {negotiation.JSON} is provided")


def run_handler(handler: Handler, req: ApiRequest, ctx: errors.ErrorContext) -> Response:
    """The handler's answer, or the error answer for what it raised."""
    try:
        _check_media(handler, req)
        response = handler(req)
    except errors.ApiError as err:
        return error_response(err, ctx)
    except BerthError as exc:
        try:
            err = errors.from_domain(exc)
        except BerthError:
            LOG.exception("untranslated domain error in %s", handler.__qualname__)
            err = errors.ApiError(500, str(exc))
        return error_response(err, ctx)
    except Exception as exc:
        LOG.exception("unexpected error in %s", handler.__qualname__)
        return error_response(errors.ApiError(500, str(exc)), ctx)
    response.headers["vary"] = microversion.HEADER
    return response


class PathEndpoint:
    """The ASGI endpoint serving every method of one path (an ASGI class
    rather than a function, so that Starlette routes every method to it)."""

    def __init__(self, methods: Mapping[str, tuple[Handler, ...]], services: Services) -> None:
        self.methods = methods
        self.services = services
        self.allow = ", ".join(methods)

    async def __call__(self, scope, receive, send) -> None:
        response = await self.respond(Request(scope, receive))
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        methods, services, allow = self.methods, self.services, self.allow
        ctx = error_context(request.scope)
        handlers = methods.get(request.method)
        if handlers is None:
            err = errors.ApiError(
                405, "The method specified is not allowed for this resource.",
                headers={"allow": allow},
            )
            return error_response(err, ctx)
        version = request.scope[VERSION]
        chosen = microversion.select_handler(handlers, version)
        if isinstance(chosen, int):
            return error_response(errors.ApiError(chosen), ctx)
        api_request = ApiRequest(
            version=version,
            method=request.method,
            path_params=request.path_params,
            query=request.query_params,
            headers=request.headers,
            body=await request.body(),
            credentials=request.scope[CREDENTIALS],
            store=services.store,
            settings=services.settings,
            enforcer=services.enforcer,
            url_prefix=request.scope.get("root_path", ""),
            host_url=f"{request.url.scheme}://{request.url.netloc}",
            candidates=services.candidates,
        )
        return await run_in_threadpool(run_handler, chosen, api_request, ctx)
