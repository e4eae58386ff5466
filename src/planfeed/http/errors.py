"""One JSON error shape for the whole app: ``{"error": code, "message": text, ...}``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from planfeed.accounts.service import AccountError
from planfeed.auth.authenticate import AuthError
from planfeed.auth.permissions import PermissionDenied
from planfeed.feeds.errors import FeedError
from planfeed.feeds.query import QueryError
from planfeed.http.responses import OrjsonResponse

INTERNAL_ERROR_MESSAGE = (
    "the server failed to handle the request and changed nothing; try again, and tell your "
    "administrator if it keeps failing"
)


class ErrorBody(BaseModel):
    """The body of every error answer, for the OpenAPI description."""

    model_config = ConfigDict(extra="allow")

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

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> OrjsonResponse:
        # Starlette still logs the exception and re-raises it to the server after this answer.
        return error_response(500, "internal_error", INTERNAL_ERROR_MESSAGE)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> OrjsonResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))


_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def document_validation_errors(app: FastAPI) -> None:
    """Make /openapi.json say what ``_validation`` does: 400 with ErrorBody, never 422.

    FastAPI documents request validation failures as ``422 HTTPValidationError`` on every
    operation with parameters; a 422 an operation documents itself (with ErrorBody) stays.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = generate()
        error_ref = {"$ref": "#/components/schemas/ErrorBody"}
        for operations in spec.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                generated = responses.get("422", {}).get("content", {}).get("application/json", {})
                if generated.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                    del responses["422"]
                    responses.setdefault(
                        "400",
                        {
                            "description": "A parameter is invalid; `errors` names each one.",
                            "content": {"application/json": {"schema": error_ref}},
                        },
                    )
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault(
            "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        text = orjson.dumps(spec["paths"]).decode()
        for name in _FASTAPI_VALIDATION_SCHEMAS:
            if f'/{name}"' not in text:
                schemas.pop(name, None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
