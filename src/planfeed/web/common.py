"""What every page shares: the signed-in caller, a scoped session, CSRF checks, rendering and
the HTML answers for "sign in first", "forbidden" and "not found"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from planfeed.auth.permissions import Action, allowed
from planfeed.auth.principal import Principal
from planfeed.db.base import Environment
from planfeed.http.deps import _scoped_session
from planfeed.http.state import AppState
from planfeed.plans.statuses import Status
from planfeed.web.sessions import CSRF_FIELD, SESSION_COOKIE, csrf_for, resolve_session, same_token

WEB_DIR = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=WEB_DIR / "templates")

# Pages load scripts, styles and images from this server only; no inline script at all.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)

STATUS_CLASSES = {
    Status.NOT_STARTED: "not-started",
    Status.ON_TRACK: "on-track",
    Status.AT_RISK: "at-risk",
    Status.OFF_TRACK: "off-track",
    Status.ACHIEVED: "achieved",
    Status.NOT_ACHIEVED: "not-achieved",
    Status.CANCELED: "canceled",
}
STATUS_ICONS = {  # a shape per status, so colour is never the only carrier
    Status.NOT_STARTED: "○",
    Status.ON_TRACK: "●",
    Status.AT_RISK: "▲",
    Status.OFF_TRACK: "✕",
    Status.ACHIEVED: "✓",
    Status.NOT_ACHIEVED: "✗",
    Status.CANCELED: "–",
}


def _status(code: int) -> Status:
    return Status(code)


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0")


templates.env.globals.update(
    status_class=lambda code: STATUS_CLASSES[_status(code)],
    status_icon=lambda code: STATUS_ICONS[_status(code)],
    status_label=lambda code: _status(code).label,
)
templates.env.filters.update(when=_when, number=_number)


class SignInRequired(Exception):
    """No valid session: the browser goes to the sign-in page and comes back afterwards."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageNotFound(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CsrfRejected(Exception):
    """A POST form without this session's CSRF token."""


def state_of(request: Request) -> AppState:
    return request.app.state.planfeed


def cookie_secure(request: Request) -> bool:
    """Secure cookies whenever the client talks HTTPS (or the server insists on it)."""
    from planfeed.http.app import _request_scheme  # the app module imports this package

    state = state_of(request)
    return state.settings.require_https or _request_scheme(request, state) == "https"


def page_principal(request: Request) -> Principal:
    """The signed-in user of a page request; sends the browser to sign in when there is none."""
    request.state.web = True
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    secret = request.cookies.get(SESSION_COOKIE)
    principal = resolve_session(state_of(request), secret) if secret else None
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    request.state.principal = principal
    request.state.session_secret = secret
    return principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def page_session(request: Request, principal: PagePrincipal) -> Iterator[Session]:
    """A session bound to the caller's scope, committed after the page, exactly as the API's."""
    yield from _scoped_session(request, state_of(request), principal)


PageSession = Annotated[Session, Depends(page_session, scope="function")]


def csrf_token(request: Request) -> str:
    return csrf_for(state_of(request).settings.secret_key, request.state.session_secret)


async def checked_form(request: Request, principal: PagePrincipal) -> FormData:
    """The POSTed form, refused (403) unless it carries the session's CSRF token."""
    del principal  # only for ordering: the session must be known first
    form = await request.form()
    given = form.get(CSRF_FIELD)
    if not same_token(csrf_token(request), given if isinstance(given, str) else None):
        raise CsrfRejected
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def nav(principal: Principal) -> dict[str, bool]:
    """Which sections the caller may open; the same checks the pages themselves make."""
    return {
        "jobs": allowed(principal, Action.VIEW_JOBS),
        "api_keys": allowed(principal, Action.MANAGE_API_KEYS),
        "users": allowed(principal, Action.MANAGE_USERS),
    }


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    principal: Principal | None = getattr(request.state, "principal", None)
    base: dict[str, Any] = {"principal": principal, "path": request.url.path}
    if principal is not None:
        base |= {
            "csrf_token": csrf_token(request),
            "nav": nav(principal),
            "sandbox": principal.environment is Environment.SANDBOX,
            "environment_label": principal.environment.value.upper(),
        }
    response = templates.TemplateResponse(
        request, template, base | context, status_code=status_code
    )
    secure_headers(response)
    return response


def secure_headers(response: Response) -> None:
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def sign_in_redirect(next_path: str) -> RedirectResponse:
    return see_other(f"/signin?next={quote(next_path, safe='')}")
