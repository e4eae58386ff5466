"""The ASGI app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from planfeed import __version__
from planfeed.auth.authenticate import client_address
from planfeed.config import Settings
from planfeed.db.migrate import check_current
from planfeed.http.errors import document_validation_errors, error_response, install_error_handlers
from planfeed.http.responses import OrjsonResponse
from planfeed.http.routes import batch, docs, feeds, feeds_token, system
from planfeed.http.state import AppState
from planfeed.jobs.worker import Worker
from planfeed.web.routes import install as install_web

HTTPS_EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})

LifespanHook = Callable[[AppState], Any]


def _request_scheme(request: Request, state: AppState) -> str:
    """The scheme the client used: X-Forwarded-Proto counts only from a trusted proxy."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-proto")
    if forwarded and peer is not None:
        trusted = client_address(peer, "0.0.0.0", state.settings.trusted_networks) != peer  # noqa: S104
        if trusted:
            return forwarded.split(",")[0].strip().lower()
    return request.url.scheme


class RequireHttps:
    """Refuse (403) a request that did not come over HTTPS, health checks excepted.

    A plain ASGI middleware, installed only when ``require_https`` is on: Starlette's
    ``BaseHTTPMiddleware`` would add a task group and body streams to every request."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            if (
                request.url.path not in HTTPS_EXEMPT_PATHS
                and _request_scheme(request, self.state) != "https"
            ):
                refusal = error_response(
                    403,
                    "https_required",
                    "this server accepts API requests over HTTPS only; use https:// in the URL",
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    on_startup: list[LifespanHook] | None = None,
    on_shutdown: list[LifespanHook] | None = None,
) -> FastAPI:
    """Build the app; the schema must already be at head (``planfeed migrate``)."""
    state = AppState.build(settings, engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        check_current(state.engine)
        worker = None
        if settings.run_worker:
            worker = Worker(state.engine, max_rows=settings.max_batch_rows)
            worker.start()
            app.state.worker = worker
        for hook in on_startup or []:
            hook(state)
        try:
            yield
        finally:
            for hook in on_shutdown or []:
                hook(state)
            if worker is not None:
                worker.stop()

    app = FastAPI(
        title="planfeed",
        version=__version__,
        description=(
            "Self-hosted plan tracking. Wire-compatible with the AchieveIt batch API "
            "and the accessplanit API v2 feeds."
        ),
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.planfeed = state
    install_error_handlers(app)

    if settings.require_https:
        app.add_middleware(RequireHttps, state=state)

    app.include_router(system.router)
    app.include_router(batch.router)
    app.include_router(feeds_token.router)
    app.include_router(feeds.router)  # after the fixed /{prefix}/api/v2/token routes
    feeds_token.install_log_redaction()
    docs.install(app)
    install_web(app)  # the pages; after the API routes, whose paths it never shares
    document_validation_errors(app)
    return app
