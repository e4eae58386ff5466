"""One JSON error shape for the whole app: ``{"error": code, "message": text, ...}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from planfeed.accounts.service import AccountError
from planfeed.auth.authenticate import AuthError
from planfeed.auth.permissions import PermissionDenied
from planfeed.feeds.errors import FeedError
from planfeed.feeds.query import QueryError
from planfeed.http.responses import OrjsonResponse


class ApiError(Exception):
    """Raised by routes for a 4xx with a code, a message and optional extra members."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def error_response(status: int, code: str, message: str, **extra: Any) -> OrjsonResponse:
    headers = {"WWW-Authenticate": 'Bearer, API-KEY realm="planfeed"'} if status == 401 else None
    return OrjsonResponse(
        {"error": code, "message": message, **extra}, status_code=status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> OrjsonResponse:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.exception_handler(AuthError)
    async def _auth_error(_request: Request, exc: AuthError) -> OrjsonResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(PermissionDenied)
    async def _forbidden(_request: Request, exc: PermissionDenied) -> OrjsonResponse:
        return error_response(403, "forbidden", exc.message)

    @app.exception_handler(FeedError)
    async def _feed_error(_request: Request, exc: FeedError) -> OrjsonResponse:
        extra = {"errors": [p.to_dict() for p in exc.problems]} if exc.problems else {}
        return error_response(exc.status, exc.code, exc.message, **extra)

    @app.exception_handler(QueryError)
    async def _query_error(_request: Request, exc: QueryError) -> OrjsonResponse:
        details = [detail.to_dict() for detail in exc.errors]
        summary = "; ".join(f"{d.option}: {d.message}" for d in exc.errors)
        return error_response(400, "invalid_query", summary, errors=details)

    @app.exception_handler(AccountError)
    async def _account_error(_request: Request, exc: AccountError) -> OrjsonResponse:
        return error_response(
            400, "invalid", exc.message, errors=[{"field": exc.field, "message": exc.message}]
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> OrjsonResponse:
        errors = [
            {
                "field": ".".join(str(part) for part in err.get("loc", ()) if part != "body"),
                "message": err.get("msg", "invalid"),
            }
            for err in exc.errors()
        ]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return error_response(400, "invalid_request", summary, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> OrjsonResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))
