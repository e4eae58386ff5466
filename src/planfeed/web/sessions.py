"""Web sign-in sessions: a random cookie value, stored only as its HMAC, with a fixed lifetime.

The CSRF token of a session is derived from the session's own secret (an HMAC under the server
secret with a distinct label), so it needs no storage, changes with every sign-in, and cannot be
computed by anyone who lacks the cookie. Before sign-in, the sign-in form uses a double-submit
cookie instead.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from planfeed.accounts.credentials import hash_secret
from planfeed.accounts.models import User
from planfeed.auth.principal import Principal
from planfeed.db.base import Environment, Tenant, utcnow
from planfeed.db.scope import Scope, bind_scope
from planfeed.http.state import AppState
from planfeed.web.models import WebSession

SESSION_COOKIE = "planfeed_session"
SIGNIN_COOKIE = "planfeed_signin"
CSRF_FIELD = "csrf_token"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def csrf_for(secret_key: str, session_secret: str) -> str:
    """The CSRF token that every POST form of this session must carry."""
    return hash_secret(secret_key, "csrf:" + session_secret)


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a missing value never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def start_session(state: AppState, scope: Scope, user_id: int) -> str:
    """Record a new session for ``user_id`` in ``scope``; returns the cookie value (shown once)."""
    secret = new_secret()
    lifetime = dt.timedelta(seconds=state.settings.web_session_seconds)
    with bind_scope(state.writer(), scope) as session, session.begin():
        purge_expired(session)
        session.add(
            WebSession(
                user_id=user_id,
                token_hash=hash_secret(state.settings.secret_key, secret),
                expires_at=utcnow() + lifetime,
            )
        )
    return secret


def end_session(state: AppState, secret: str) -> None:
    """Sign out: the row goes, so the cookie is worthless even if a copy survives."""
    with state.writer.begin() as session:
        session.execute(
            delete(WebSession).where(
                WebSession.token_hash == hash_secret(state.settings.secret_key, secret)
            )
        )


def resolve_session(state: AppState, secret: str) -> Principal | None:
    """The signed-in caller, or ``None`` when the session is unknown, expired or its user is
    no longer active. ``None`` sends the browser to the sign-in page."""
    with state.reader() as session:
        row = session.execute(
            select(WebSession, User, Tenant)
            .join(User, User.id == WebSession.user_id)
            .join(Tenant, Tenant.id == WebSession.organisation_id)
            .where(WebSession.token_hash == hash_secret(state.settings.secret_key, secret))
        ).first()
        if row is None:
            return None
        web_session, user, organisation = row
        if web_session.expires_at <= utcnow() or not user.is_active:
            return None
        return Principal(
            organisation_id=organisation.id,
            organisation_name=organisation.name,
            environment=Environment(web_session.environment),
            user_id=user.id,
            login=user.login,
            role=user.role,
            credential_kind="session",
            credential_id=web_session.id,
        )


def counterpart_user(state: AppState, principal: Principal, environment: Environment) -> int | None:
    """The active user with the caller's login in ``environment`` of the same organisation."""
    scope = Scope(principal.organisation_id, environment)
    with bind_scope(state.reader(), scope) as session:
        user = session.scalar(select(User).where(User.login == principal.login))
        return user.id if user is not None and user.is_active else None


def purge_expired(session: Session) -> int:
    """Delete expired sessions (done at each sign-in, so the table stays small)."""
    result = session.execute(delete(WebSession).where(WebSession.expires_at <= utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
