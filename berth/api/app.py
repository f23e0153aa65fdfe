"""Assembly: the ASGI app from the route table, the middleware list and the
exception handlers.

``create_app(settings, store)`` is the contract with the CLI and the tests.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from berth.api import auth, errors
from berth.api.cors import CORSMiddleware
from berth.api.dispatch import PathEndpoint, Services, error_response
from berth.api.middleware import (
    AuthMiddleware,
    BodyHeadersMiddleware,
    MicroversionMiddleware,
    MountMiddleware,
    RequestIdMiddleware,
    error_context,
)
from berth.api.policy import PolicyEnforcer
from berth.api.routes import BERTH_ROUTES, ROUTES
from berth.config import Settings
from berth.placement.candidates.finder import CandidateFinder
from berth.scheduler.finder import SchedulerFinder
from berth.store.port import Store

LOG = logging.getLogger("berth.api")


def _authenticator(settings: Settings) -> auth.Authenticator:
    strategy = settings.api.auth_strategy
    if strategy == auth.NOAUTH2:
        return auth.NoAuth2()
    if strategy == auth.KEYSTONE:
        # Imported only here: keystonemiddleware and its dependencies add
        # about 18 MB to every worker, which noauth2 deployments never use.
        from berth.api.keystone import KeystoneAuthenticator

        return KeystoneAuthenticator(settings.keystone_authtoken)
    raise ValueError(f"unknown auth_strategy: {strategy!r}")


def _middleware(settings: Settings, authenticator: auth.Authenticator) -> list[Middleware]:
    """Outermost first; see middleware.py for what each one does."""
    stack = [
        Middleware(RequestIdMiddleware),
        Middleware(MountMiddleware, prefix=settings.api.root_path),
    ]
    if settings.cors.allowed_origins:
        stack.append(Middleware(CORSMiddleware, settings=settings.cors))
    stack += [
        Middleware(AuthMiddleware, authenticator=authenticator),
        Middleware(MicroversionMiddleware),
        Middleware(BodyHeadersMiddleware),
    ]
    return stack


async def _not_found(request: Request, exc: HTTPException) -> Response:
    # No route matched: Placement raises this 404 outside its handlers.
    err = errors.ApiError(exc.status_code, vary=False)
    return error_response(err, error_context(request.scope))


async def _internal_error(request: Request, exc: Exception) -> Response:
    return error_response(errors.ApiError(500, str(exc)), error_context(request.scope))


def _warm_up(finder: CandidateFinder):
    """At start-up, read the store into the candidate index once, so the
    first GET /allocation_candidates does not pay for the complete read.
    A failure is not fatal: every search refreshes the index anyway."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(finder.refresh)
        except Exception:
            LOG.exception("could not fill the allocation-candidates index at start-up")
        yield

    return lifespan


def create_app(settings: Settings, store: Store) -> Starlette:
    # One index for GET /allocation_candidates and the scheduler's
    # /selections: a second one would double the memory a process keeps.
    # Candidates are always read fresh; only the scheduler's searches may
    # skip the change feed for [scheduler] index_max_staleness_ms.
    finder = SchedulerFinder(
        store,
        settings.scheduler.index_max_staleness_ms / 1000,
        randomize=settings.placement.randomize_allocation_candidates,
        max_candidates=settings.placement.max_allocation_candidates,
    )
    services = Services(
        store=store, settings=settings, enforcer=PolicyEnforcer(settings.policy), candidates=finder
    )
    authenticator = _authenticator(settings)
    routes = [
        Route(path, PathEndpoint(methods, services))
        for path, methods in {**ROUTES, **BERTH_ROUTES}.items()
    ]
    app = Starlette(
        routes=routes,
        middleware=_middleware(settings, authenticator),
        exception_handlers={HTTPException: _not_found, Exception: _internal_error},
        lifespan=_warm_up(finder),
    )
    # "/resource_providers/" is not "/resource_providers" in Placement: 404.
    app.router.redirect_slashes = False
    app.state.services = services
    app.state.authenticator = authenticator
    return app
