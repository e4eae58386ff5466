"""One JSON error shape for the whole app: ``{"error": code, "message": text, ...}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from planfeed.accounts.service import AccountError
from planfeed.auth.authenticate import AuthError
from planfeed.auth.permissions import PermissionDenied
from planfeed.http.responses import OrjsonResponse


class ErrorBody(BaseModel):
    """The body of every error answer, for the OpenAPI description."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "error": "invalid_parameter",
                    "message": "take must be an integer from 1 to 1500, not 0",
                    "errors": [
                        {
                            "parameter": "take",
                            "message": "take must be an integer from 1 to 1500, not 0",
                        }
                    ],
                }
            ]
        },
    )

    error: str = Field(description="A stable machine-readable code, e.g. `not_found`.")
    message: str = Field(description="What went wrong and what would be right, for people.")
    errors: list[dict[str, Any]] | None = Field(
        default=None,
        description="Details when there are several problems: each names its `field`, "
        "`parameter` or `row` and has a `message`.",
    )


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
