"""Request dependencies: the caller, and a session bound to the caller's scope.

Routes never commit: the session dependency commits when the route returns and rolls back
when it raises, before the response is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy import update
from sqlalchemy.orm import Session

from planfeed.accounts.models import ApiKey
from planfeed.auth.authenticate import AuthError, authenticate, client_address
from planfeed.auth.platform import FeedPrefix, check_credential_fits, platform_from_host
from planfeed.auth.principal import Principal
from planfeed.db.base import utcnow
from planfeed.db.engine import without_lock_wait
from planfeed.db.scope import bind_scope
from planfeed.http.state import AppState

# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in its
# thread pool, a hop to another thread and back on every request.


async def app_state(request: Request) -> AppState:
    return request.app.state.planfeed


StateDep = Annotated[AppState, Depends(app_state)]


async def request_address(request: Request, state: StateDep) -> str | None:
    """The client's address: the socket peer, or X-Forwarded-For from a trusted proxy."""
    peer = request.client.host if request.client else None
    return client_address(
        peer, request.headers.get("x-forwarded-for"), state.settings.trusted_networks
    )


AddressDep = Annotated[str | None, Depends(request_address)]


def request_host(request: Request, state: StateDep) -> str | None:
    """The host the client addressed: the Host header, or X-Forwarded-Host from a trusted proxy."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-host")
    if forwarded and peer is not None:
        behind_trusted_proxy = (
            client_address(peer, "0.0.0.0", state.settings.trusted_networks) != peer  # noqa: S104
        )
        if behind_trusted_proxy:
            return forwarded.split(",")[0].strip()
    return request.headers.get("host")


HostDep = Annotated[str | None, Depends(request_host)]


def request_platform(state: StateDep, host: HostDep) -> str | None:
    """The organisation named by the host's subdomain, or ``None`` (the credential decides)."""
    return platform_from_host(host, state.settings.base_domain)


PlatformDep = Annotated[str | None, Depends(request_platform)]


# Declares the Authorization header in the OpenAPI description (Swagger UI's "Authorize"
# button); authenticate() below does the checking, so this never rejects on its own.
authorization_header = APIKeyHeader(
    name="Authorization",
    scheme_name="ApiKey",
    description="`API-KEY <key>` (as the AchieveIt API documents it) or `Bearer <key>`.",
    auto_error=False,
)


def current_principal(
    request: Request,
    state: StateDep,
    address: AddressDep,
    _documented: Annotated[str | None, Security(authorization_header)] = None,
) -> Principal:
    """Authenticate the request's Authorization header (401 with the reason when it fails)."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    with state.reader() as session:
        principal = authenticate(
            session, state.settings.secret_key, request.headers.get("authorization"), address
        )
        touch_key = principal.credential_kind == "api_key" and bool(session.info.get("touch"))
        session.rollback()
    if principal.credential_kind == "api_key" and touch_key:
        _touch_key(state, principal.credential_id)
    request.state.principal = principal
    return principal


def _touch_key(state: AppState, key_id: int | None) -> None:
    """Record last use in its own short transaction, without waiting for SQLite's write lock
    (a batch job holds it while it runs: a status poll would wait for the whole job). A failure
    here must not fail the call; a skipped touch is made on the key's next request."""
    try:
        with without_lock_wait(state.engine) as connection, connection.begin():
            connection.execute(
                update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow())
            )
    except Exception:  # noqa: S110 - last-used is advisory
        pass


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def feeds_principal(
    prefix: FeedPrefix, request: Request, state: StateDep, principal: CurrentPrincipal
) -> Principal:
    """The caller of a ``/{prefix}/api/v2/…`` route, refused (401) when the credential belongs to
    the other environment or, when the host names a platform by subdomain, to another platform.
    """
    platform = request_platform(state, request_host(request, state))
    check_credential_fits(principal, prefix.environment, platform)
    return principal


FeedsPrincipal = Annotated[Principal, Depends(feeds_principal)]


def _scoped_session(request: Request, state: AppState, principal: Principal) -> Iterator[Session]:
    factory = state.reader if request.method in ("GET", "HEAD") else state.writer
    session = bind_scope(factory(), principal.scope)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def scoped_session(
    request: Request, state: StateDep, principal: CurrentPrincipal
) -> Iterator[Session]:
    yield from _scoped_session(request, state, principal)


ScopedSession = Annotated[Session, Depends(scoped_session, scope="function")]


def feeds_session(
    request: Request, state: StateDep, principal: FeedsPrincipal
) -> Iterator[Session]:
    yield from _scoped_session(request, state, principal)


FeedsSession = Annotated[Session, Depends(feeds_session, scope="function")]

__all__ = [
    "AddressDep",
    "AuthError",
    "CurrentPrincipal",
    "FeedsPrincipal",
    "FeedsSession",
    "HostDep",
    "PlatformDep",
    "ScopedSession",
    "StateDep",
    "app_state",
    "current_principal",
    "feeds_principal",
]
