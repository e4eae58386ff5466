"""Typed errors, so a script can tell bad credentials from a bad file from a server outage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planfeed.client.models import FieldError, JobResult, RowError


class PlanfeedError(Exception):
    """Every error the client raises derives from this; ``message`` says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(PlanfeedError, ValueError):
    """The client was set up inconsistently (e.g. a sandbox key for the live environment)."""


class EnvironmentMismatch(ConfigurationError):
    """The key belongs to the other environment; ``key_environment`` says which."""

    def __init__(self, key_environment: str, requested: str) -> None:
        super().__init__(
            f"the key is a {key_environment} key; use environment={key_environment!r} "
            f"(or a {requested} key)"
        )
        self.key_environment = key_environment
        self.requested = requested


class ConnectionFailed(PlanfeedError):
    """The server could not be reached, or did not answer in time, after every retry."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class ApiError(PlanfeedError):
    """The server answered with an error status; ``code`` is its ``error`` member."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.body = body

    def __str__(self) -> str:
        return f"{self.status} {self.code or 'error'}: {self.message}"


class AuthenticationError(ApiError):
    """401: the credentials were missing, unknown, disabled, expired or from another address."""


class PermissionDeniedError(ApiError):
    """403: the credentials are fine but their user may not do this."""


class NotFoundError(ApiError):
    """404: no such job, record or route in this organisation and environment."""


class ConflictError(ApiError):
    """409: the write clashes with data (a full course date, a record still referred to)."""


class ValidationError(ApiError):
    """400, 413 or 422: the request was refused; ``field_errors`` names each bad field."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        body: Any = None,
        field_errors: Sequence[FieldError] = (),
    ) -> None:
        super().__init__(status, code, message, body)
        self.field_errors = tuple(field_errors)


class RateLimitedError(ApiError):
    """429 on every attempt; ``retry_after`` is the server's last hint in seconds."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, code, message, body)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx on every attempt."""


class BatchRejected(PlanfeedError):
    """The batch file was rejected and nothing was applied; ``errors`` lists every bad row."""

    def __init__(self, result: JobResult) -> None:
        count = len(result.errors)
        super().__init__(
            f"job {result.job_id}: the file was rejected with {count} "
            f"error{'s' if count != 1 else ''} and nothing was applied; fix the rows and push again"
        )
        self.result = result
        self.errors: tuple[RowError, ...] = result.errors


class JobFailed(PlanfeedError):
    """The server could not process the job after its retries (nothing was applied)."""

    def __init__(self, result: JobResult) -> None:
        super().__init__(f"job {result.job_id} failed on the server: {result.message}")
        self.result = result


class WaitTimeout(PlanfeedError):
    """The job was still queued or running when the wait ran out; poll it again later."""

    def __init__(self, result: JobResult, waited: float) -> None:
        super().__init__(
            f"job {result.job_id} is still {result.state.value} after {waited:.0f}s; "
            f"check it later with `planfeed status {result.job_id}`"
        )
        self.result = result
        self.waited = waited
