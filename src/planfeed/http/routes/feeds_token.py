"""The accessplanit feeds token endpoint: ``GET``/``POST /{prefix}/api/v2/token`` (seed 004).

A user ID and password (``grant_type=password``) buy a bearer token valid for
``token_lifetime_seconds``. Answers and errors follow OAuth 2 (RFC 6749 §5.1 and §5.2), which
is what accessplanit's own clients read: ``{"access_token", "token_type", "expires_in"}`` or
``{"error", "error_description"}``.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qsl

import anyio
from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.exceptions import HTTPException

from planfeed.accounts.credentials import verify_password
from planfeed.accounts.models import User
from planfeed.accounts.service import (
    WRONG_CREDENTIALS,
    AmbiguousLogin,
    LoginPolicy,
    LoginRejected,
    authenticate_password,
    could_be_login,
    get_organisation,
    issue_token,
    organisation_for_login,
)
from planfeed.auth.platform import FeedPrefix, platform_from_host
from planfeed.config import Settings
from planfeed.db.base import Environment, Tenant
from planfeed.db.scope import Scope, bind_scope
from planfeed.http.deps import request_host
from planfeed.http.responses import OrjsonResponse
from planfeed.http.state import AppState

router = APIRouter(tags=["feeds"])

PARAMETERS = ("grant_type", "username", "password")
MAX_BODY_BYTES = 16 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


_PASSWORD_IN_QUERY = re.compile(r"([?&]password=)[^&\s\"]*", re.IGNORECASE)
ACCESS_LOGGER = "uvicorn.access"


class RedactPasswords(logging.Filter):
    """Hide ``password=…`` in logged URLs: the seed's clients send the password in the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _PASSWORD_IN_QUERY.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _PASSWORD_IN_QUERY.sub(r"\1***", record.msg)
        return True


def install_log_redaction() -> None:
    """Add :class:`RedactPasswords` to uvicorn's access log once (it survives its dictConfig)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, RedactPasswords) for existing in logger.filters):
        logger.addFilter(RedactPasswords())


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def response(self) -> OrjsonResponse:
        return OrjsonResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers={**_NO_STORE, **self.headers},
        )


def login_policy(settings: Settings) -> LoginPolicy:
    return LoginPolicy(
        slow_after=settings.login_slow_after_failures,
        lock_after=settings.login_lock_after_failures,
        lock_seconds=settings.login_lock_seconds,
        delay_seconds=settings.login_delay_seconds,
        max_delay_seconds=settings.login_max_delay_seconds,
    )


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _body_too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _body_too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _body_too_large() -> OAuthError:
    return OAuthError(
        "invalid_request",
        f"the request body is larger than {MAX_BODY_BYTES} bytes; a token request needs only "
        "grant_type, username and password",
    )


async def _parameters(request: Request) -> dict[str, str]:
    """The token parameters from the query string and, on POST, the form body.

    Each may be given once (RFC 6749 §3.2); giving one twice with different values is an
    error rather than a guess. An empty value counts as missing (§3.1).
    """
    pairs: list[tuple[str, str]] = list(request.query_params.multi_items())
    if request.method == "POST":
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "multipart/form-data":
            declared = request.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise _body_too_large()
            try:
                form = await request.form(max_files=0, max_fields=20, max_part_size=MAX_BODY_BYTES)
            except HTTPException as exc:
                raise OAuthError("invalid_request", f"the form body: {exc.detail}") from exc
            pairs += [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
        else:
            body = await _read_body(request)
            if body and content_type in ("", "application/x-www-form-urlencoded"):
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise OAuthError(
                        "invalid_request", "the form body is not UTF-8 text; encode it as UTF-8"
                    ) from exc
                try:
                    pairs += parse_qsl(text, keep_blank_values=True, max_num_fields=50)
                except ValueError as exc:
                    raise OAuthError(
                        "invalid_request",
                        "the form body has too many fields; send grant_type, username, password",
                    ) from exc
            elif body:
                raise OAuthError(
                    "invalid_request",
                    f"the body is {content_type!r}; send the parameters as an "
                    "application/x-www-form-urlencoded body "
                    "(grant_type=password&username=…&password=…)",
                )
    found: dict[str, str] = {}
    for name, value in pairs:
        if name not in PARAMETERS or value == "":
            continue
        if name in found and found[name] != value:
            raise OAuthError("invalid_request", f"{name} is given more than once; send it once")
        found[name] = value
    return found


def _check_parameters(found: dict[str, str]) -> tuple[str, str]:
    grant_type = found.get("grant_type")
    if grant_type is None:
        raise OAuthError(
            "invalid_request",
            "grant_type is missing: send grant_type=password with username and password",
        )
    if grant_type != "password":
        raise OAuthError(
            "unsupported_grant_type",
            f"grant_type {grant_type!r} is not supported: use grant_type=password",
        )
    username = found.get("username")
    if username is None:
        raise OAuthError(
            "invalid_request", "username is missing: send your platform user ID as username"
        )
    password = found.get("password")
    if password is None:
        raise OAuthError("invalid_request", "password is missing: send your platform password")
    return username, password


def _organisation(
    state: AppState, platform: str | None, login: str, environment: Environment
) -> Tenant | None:
    with state.reader() as session:
        if platform is not None:
            return get_organisation(session, platform)
        return organisation_for_login(session, login, environment)


def _issue(state: AppState, scope: Scope, user_id: int) -> str:
    with bind_scope(state.writer(), scope) as session, session.begin():
        user = session.scalar(select(User).where(User.id == user_id))
        if user is None:
            raise OAuthError("invalid_grant", WRONG_CREDENTIALS)
        _, plaintext = issue_token(
            session, state.settings.secret_key, user, state.settings.token_lifetime_seconds
        )
        return plaintext


def _platform_hint(host: str | None, prefix: FeedPrefix) -> str:
    return f"<platform>.{host or '<host>'}/{prefix.value}/api/v2/token"


_OPENAPI: dict[str, Any] = {
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in PARAMETERS
    ],
    "responses": {
        "400": {
            "description": "RFC 6749 error: invalid_request, invalid_grant or "
            "unsupported_grant_type, with error_description"
        }
    },
}
_OPENAPI_POST: dict[str, Any] = {
    **_OPENAPI,
    "requestBody": {
        "required": False,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {name: {"type": "string"} for name in PARAMETERS},
                }
            }
        },
    },
}


async def _token(prefix: FeedPrefix, request: Request) -> OrjsonResponse:
    state: AppState = request.app.state.planfeed
    try:
        username, password = _check_parameters(await _parameters(request))
        environment = prefix.environment
        host = request_host(request, state)
        platform = platform_from_host(host, state.settings.base_domain)
        try:
            organisation = (
                await anyio.to_thread.run_sync(
                    _organisation, state, platform, username, environment
                )
                if could_be_login(username)
                else None
            )
        except AmbiguousLogin as exc:
            raise OAuthError(
                "invalid_request",
                f"the user ID {username!r} exists on more than one platform: address your "
                f"platform by its subdomain, as {_platform_hint(host, prefix)}",
            ) from exc
        if organisation is None:  # the same answer, and time, as a wrong password
            await anyio.to_thread.run_sync(verify_password, None, password)
            raise OAuthError("invalid_grant", WRONG_CREDENTIALS)
        scope = Scope(organisation.id, environment)
        try:
            user = await authenticate_password(
                state.writer, scope, username, password, login_policy(state.settings)
            )
        except LoginRejected as exc:
            retry = exc.retry_after_seconds if exc.reason == "locked" else None
            raise OAuthError(
                "invalid_grant",
                exc.message,
                headers={"Retry-After": str(retry)} if retry is not None else None,
            ) from exc
        token = await anyio.to_thread.run_sync(_issue, state, scope, user.id)
    except OAuthError as error:
        return error.response()
    return OrjsonResponse(
        {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": state.settings.token_lifetime_seconds,
        },
        headers=_NO_STORE,
    )


@router.get("/{prefix}/api/v2/token", openapi_extra=_OPENAPI, summary="Get a bearer token")
async def token_get(prefix: FeedPrefix, request: Request) -> OrjsonResponse:
    """Exchange a user ID and password (query parameters) for a bearer token."""
    return await _token(prefix, request)


@router.post("/{prefix}/api/v2/token", openapi_extra=_OPENAPI_POST, summary="Get a bearer token")
async def token_post(prefix: FeedPrefix, request: Request) -> OrjsonResponse:
    """Exchange a user ID and password (form body or query parameters) for a bearer token."""
    return await _token(prefix, request)
