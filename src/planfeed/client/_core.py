"""The protocol logic, without I/O, shared by :class:`Client` and :class:`AsyncClient`.

Every operation is a generator ("flow") that yields :class:`Send` (a request to make) or
:class:`Sleep` (a pause) and receives the ``httpx.Response`` back; a transport error is thrown
into it. The sync and async drivers only perform those two steps, so retries, backoff,
token renewal, polling and paging are written, and tested, once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import email.utils
import enum
import json
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from planfeed.client.errors import (
    ApiError,
    AuthenticationError,
    BatchRejected,
    ConfigurationError,
    ConflictError,
    ConnectionFailed,
    EnvironmentMismatch,
    JobFailed,
    NotFoundError,
    PermissionDeniedError,
    PlanfeedError,
    RateLimitedError,
    ServerError,
    ValidationError,
    WaitTimeout,
)
from planfeed.client.filters import Expr, Raw, to_filter
from planfeed.client.models import (
    BatchKind,
    Environment,
    ExportPage,
    FieldError,
    JobResult,
    JobState,
    PlanItem,
    UpsertResult,
    ValidationReport,
    WhoAmI,
)

T = TypeVar("T")

MAX_EXPORT_TAKE = 1500
DEFAULT_FEED_PAGE = 100
_ENDPOINTS: dict[str, str] = {"progress": "progressupdates", "metric": "metricupdates"}
_FEED_PREFIX: dict[str, str] = {"live": "accessplan", "sandbox": "accessplansandbox"}
_KEY_ENVIRONMENT = {"live": "live", "test": "sandbox"}


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """What to send; the driver turns it into an ``httpx.Request`` on its own client."""

    method: str
    url: str
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    data: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Send:
    request: RequestSpec


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Step = Send | Sleep
Flow = Generator[Step, Any, T]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter; ``attempts`` counts the first try."""

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 20.0
    max_retry_after: float = 120.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds before retry number ``retry`` (0-based): the server's Retry-After when it
        gave one (capped), else an "equal jitter" exponential backoff."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        ceiling = min(self.max_backoff, self.backoff * 2.0**retry)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How ``wait`` polls a job: a short first interval growing to ``max_interval``."""

    first_interval: float = 0.2
    factor: float = 1.5
    max_interval: float = 5.0
    timeout: float = 600.0


def retry_after_seconds(response: httpx.Response, now: dt.datetime | None = None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (RFC 9110); None when absent or bad."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def key_environment(api_key: str) -> Environment | None:
    """The environment a planfeed key's type prefix names (``pfk_test_`` is the sandbox)."""
    parts = api_key.split("_", 2)
    if len(parts) == 3 and parts[0] == "pfk" and parts[1] in _KEY_ENVIRONMENT:
        return _KEY_ENVIRONMENT[parts[1]]  # type: ignore[return-value]
    return None


class Auth:
    """How requests are authorised; subclasses say how to get the header."""

    def header(self) -> str | None:
        raise NotImplementedError

    def renew_flow(self, core: ClientCore) -> Flow[None] | None:
        """A flow that obtains a credential first, or None when nothing is needed."""
        return None

    def forget(self) -> bool:
        """Drop a cached credential after a 401; True if a renewal is worth a retry."""
        return False


class ApiKeyAuth(Auth):
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key.strip()

    def header(self) -> str:
        return f"API-KEY {self.api_key}"


class BearerAuth(Auth):
    def __init__(self, token: str) -> None:
        self.token = token.strip()

    def header(self) -> str:
        return f"Bearer {self.token}"


class PasswordAuth(Auth):
    """Fetches the 60-minute token with the user's password and renews it before it ends
    (a minute early, or a tenth of its lifetime when that is shorter), and once on a 401."""

    RENEW_MARGIN = 60.0

    def __init__(self, username: str, password: str, clock: Callable[[], float]) -> None:
        self.username = username
        self.password = password
        self.clock = clock
        self.token: str | None = None
        self.expires_at = 0.0
        self.renew_at = 0.0

    def header(self) -> str | None:
        return f"Bearer {self.token}" if self.token else None

    def valid(self) -> bool:
        return self.token is not None and self.clock() < self.renew_at

    def renew_flow(self, core: ClientCore) -> Flow[None] | None:
        return None if self.valid() else self._fetch(core)

    def _fetch(self, core: ClientCore) -> Flow[None]:
        spec = RequestSpec(
            "POST",
            core.feed_path("token"),
            headers=core.base_headers(),
            data={"grant_type": "password", "username": self.username, "password": self.password},
        )
        started = self.clock()
        response = yield from core.send_with_retries(spec, idempotent=True)
        if response.status_code in (400, 401):
            # OAuth 2 errors (RFC 6749 §5.2): a wrong password, a locked account, …
            body = _json_or_none(response)
            code = body.get("error") if isinstance(body, dict) else None
            described = body.get("error_description") if isinstance(body, dict) else None
            raise AuthenticationError(
                response.status_code,
                str(code) if code else "invalid_grant",
                f"the token endpoint refused the sign-in of {self.username!r}: "
                f"{described or code or response.text[:200]}",
                body,
            )
        core.raise_for_status(response)
        body = response.json()
        try:
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in", 3600))
        except (KeyError, TypeError, ValueError) as exc:
            raise AuthenticationError(
                response.status_code, "bad_token_response", f"the token answer has no token: {body}"
            ) from exc
        self.token = token
        self.expires_at = started + lifetime
        self.renew_at = self.expires_at - min(self.RENEW_MARGIN, lifetime / 10)

    def forget(self) -> bool:
        had = self.token is not None
        self.token = None
        self.expires_at = self.renew_at = 0.0
        return had


@dataclass(frozen=True, slots=True)
class BatchBody:
    content: bytes
    content_type: str
    filename: str


_ROW_KEYS = {
    "externalid": "externalId",
    "status": "status",
    "metricvalue": "metricValue",
    "currentmetricvalue": "metricValue",
    "value": "metricValue",
    "asof": "asOfDate",
    "asofdate": "asOfDate",
    "date": "asOfDate",
    "comment": "comment",
}


def _row_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _row_dict(index: int, row: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        items = {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
    elif isinstance(row, Mapping):
        items = dict(row)
    else:
        raise TypeError(
            f"row {index} is a {type(row).__name__}; give dataclasses (ProgressRow, MetricRow) "
            "or dicts with externalId, status, metricValue, asOfDate, comment"
        )
    out: dict[str, Any] = {}
    for key, value in items.items():
        normal = re.sub(r"[\s_\-]", "", str(key)).lower()
        if value is None:
            continue
        out[_ROW_KEYS.get(normal, str(key))] = _row_value(value)
    return out


def batch_body(
    source: str | os.PathLike[str] | bytes | Iterable[Any], filename: str | None
) -> BatchBody:
    """A file path, raw bytes, or typed rows (sent as a JSON array: row n is the n-th row)."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            content = path.read_bytes()
        except FileNotFoundError as exc:
            raise ConfigurationError(f"no file {str(path)!r}; check the path") from exc
        except IsADirectoryError as exc:
            raise ConfigurationError(f"{str(path)!r} is a directory, not a file") from exc
        is_json = path.suffix.lower() == ".json"
        return BatchBody(
            content,
            "application/json" if is_json else "text/csv",
            filename or path.name,
        )
    if isinstance(source, bytes | bytearray | memoryview):
        content = bytes(source)
        is_json = content.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")
        return BatchBody(
            content,
            "application/json" if is_json else "text/csv",
            filename or ("upload.json" if is_json else "upload.csv"),
        )
    rows = [_row_dict(index, row) for index, row in enumerate(source, start=1)]
    return BatchBody(json.dumps(rows).encode(), "application/json", filename or "rows.json")


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """An immutable feeds query; each builder method returns a new one."""

    module: str
    filters: tuple[Expr, ...] = ()
    fields: tuple[str, ...] = ()
    order: tuple[str, ...] = ()
    page_size: int = DEFAULT_FEED_PAGE
    limit: int | None = None

    def with_filter(self, value: str | Expr) -> FeedQuery:
        expr = Raw(value) if isinstance(value, str) else value
        return dataclasses.replace(self, filters=(*self.filters, expr))

    def filter_text(self) -> str | None:
        if not self.filters:
            return None
        if len(self.filters) == 1:
            return to_filter(self.filters[0])
        combined = self.filters[0]
        for expr in self.filters[1:]:
            combined = combined & expr
        return combined.render()

    def params(self, page: int) -> dict[str, str]:
        """The query string for page ``page`` (``$skip`` is a page number in API v2)."""
        params = {"$top": str(self.page_size), "$skip": str(page)}
        text = self.filter_text()
        if text:
            params["$filter"] = text
        if self.fields:
            params["$select"] = ",".join(self.fields)
        if self.order:
            params["$orderby"] = ",".join(self.order)
        return params


class ClientCore:
    """Request building, response interpretation, retries and paging, for both clients."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        environment: Environment | None = None,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        user_agent: str = "planfeed-client",
    ) -> None:
        given = [name for name, v in (("api_key", api_key), ("token", token)) if v]
        if username or password:
            given.append("username/password")
            if not (username and password):
                raise ConfigurationError("give both username and password, or neither")
        if len(given) != 1:
            raise ConfigurationError(
                "give exactly one of api_key=, token=, or username= with password= "
                f"(got {', '.join(given) or 'none'})"
            )
        if environment not in (None, "live", "sandbox"):
            raise ConfigurationError(
                f"environment must be 'live' or 'sandbox', not {environment!r}"
            )
        self.clock = clock
        self.auth: Auth
        if api_key:
            implied = key_environment(api_key)
            if environment is not None and implied is not None and implied != environment:
                raise EnvironmentMismatch(implied, environment)
            environment = environment or implied
            self.auth = ApiKeyAuth(api_key)
        elif token:
            self.auth = BearerAuth(token)
        else:
            self.auth = PasswordAuth(str(username), str(password), clock)
        self.environment: Environment = environment or "live"
        self.retry = retry or RetryPolicy()
        self.poll = poll or PollPolicy()
        self.rng = rng or random.Random()
        self.user_agent = user_agent

    # -- plumbing ---------------------------------------------------------------------------

    def base_headers(self) -> dict[str, str]:
        return {"User-Agent": self.user_agent, "Accept": "application/json"}

    def feed_path(self, tail: str) -> str:
        return f"/{_FEED_PREFIX[self.environment]}/api/v2/{tail}"

    def _authorised(self, spec: RequestSpec) -> RequestSpec:
        header = self.auth.header()
        headers = {**self.base_headers(), **spec.headers}
        if header:
            headers["Authorization"] = header
        return dataclasses.replace(spec, headers=headers)

    def send_with_retries(
        self,
        spec: RequestSpec,
        *,
        idempotent: bool,
        answers: Callable[[httpx.Response], bool] | None = None,
    ) -> Flow[httpx.Response]:
        """Send with retries: connection errors (any error, if the request is idempotent),
        429 honouring Retry-After, and 5xx (only 503 when not idempotent) — unless
        ``answers`` says the status is the answer (a failed job's status is a 500)."""
        policy = self.retry
        for attempt in range(policy.attempts):
            last = attempt == policy.attempts - 1
            try:
                response: httpx.Response = yield Send(spec)
            except httpx.TransportError as exc:
                safe = idempotent or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if last or not safe:
                    raise ConnectionFailed(_transport_message(exc, attempt + 1), exc) from exc
                yield Sleep(policy.delay(attempt, None, self.rng))
                continue
            status = response.status_code
            retryable = (
                status in policy.retry_statuses
                and (idempotent or status in (429, 503))
                and not (answers is not None and answers(response))
            )
            if retryable and not last:
                yield Sleep(policy.delay(attempt, retry_after_seconds(response), self.rng))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
        answers: Callable[[httpx.Response], bool] | None = None,
    ) -> Flow[httpx.Response]:
        """An authorised request with retries and one token renewal on a 401; raises the
        typed error for an error status unless ``answers`` says that response is an answer."""
        extra = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body, default=_json_value).encode()
            extra.setdefault("Content-Type", "application/json")
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        renewed = False
        while True:
            renew = self.auth.renew_flow(self)
            if renew is not None:
                yield from renew
            spec = self._authorised(
                RequestSpec(method, url, params=params, headers=extra, content=content)
            )
            response = yield from self.send_with_retries(
                spec, idempotent=idempotent, answers=answers
            )
            if response.status_code == 401 and not renewed and self.auth.forget():
                renewed = True  # the token expired or was revoked early: fetch a new one, once
                continue
            if answers is None or not answers(response):
                self.raise_for_status(response)
            return response

    @staticmethod
    def raise_for_status(response: httpx.Response) -> None:
        """The typed error for a 4xx or 5xx; nothing for a success."""
        status = response.status_code
        if status < 400:
            return
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:500]
        code = body.get("error") if isinstance(body, dict) else None
        described = (
            body.get("message") or body.get("error_description") if isinstance(body, dict) else None
        )
        message = (
            str(described)
            if described
            else (str(body).strip() or response.reason_phrase or f"HTTP {status}")
        )
        if status == 401:
            raise AuthenticationError(status, code, message, body)
        if status == 403:
            raise PermissionDeniedError(status, code, message, body)
        if status == 404:
            raise NotFoundError(status, code, message, body)
        if status == 409:
            raise ConflictError(status, code, message, body)
        if status == 429:
            raise RateLimitedError(status, code, message, body, retry_after_seconds(response))
        if status in (400, 413, 422):
            raw_errors = body.get("errors") if isinstance(body, dict) else None
            field_errors = [
                FieldError.from_json(e) for e in raw_errors or () if isinstance(e, dict)
            ]
            raise ValidationError(status, code, message, body, field_errors)
        if status >= 500:
            raise ServerError(status, code, message, body)
        raise ApiError(status, code, message, body)

    # -- batch ------------------------------------------------------------------------------

    @staticmethod
    def endpoint(kind: BatchKind) -> str:
        try:
            return _ENDPOINTS[kind]
        except KeyError:
            raise ConfigurationError(f"kind must be 'progress' or 'metric', not {kind!r}") from None

    def submit(
        self, kind: BatchKind, body: BatchBody, *, idempotency_key: str | None = None
    ) -> Flow[str]:
        """Queue a file; the same Idempotency-Key on every retry, so a retry is never a
        second job. Returns the job id."""
        key = idempotency_key or str(uuid.uuid4())
        response = yield from self.request(
            "POST",
            f"/api/{self.endpoint(kind)}/{quote(body.filename, safe='')}",
            headers={"Content-Type": body.content_type, "Idempotency-Key": key},
            content=body.content,
            idempotent=True,
        )
        return str(response.json()["jobId"])

    def validate(self, kind: BatchKind, body: BatchBody) -> Flow[ValidationReport]:
        response = yield from self.request(
            "POST",
            f"/api/{self.endpoint(kind)}/{quote(body.filename, safe='')}",
            params={"dryRun": "true"},
            headers={"Content-Type": body.content_type},
            content=body.content,
            idempotent=True,
            answers=lambda r: r.status_code == 400 and _has(r, "dryRun"),
        )
        return ValidationReport.from_json(response.json())

    def status(self, job_id: str, kind: BatchKind | None = None) -> Flow[JobResult]:
        """A job's status; without ``kind`` the progress endpoint is asked, then the metric one."""
        kinds: tuple[BatchKind, ...] = (kind,) if kind else ("progress", "metric")
        for index, each in enumerate(kinds):
            try:
                response = yield from self.request(
                    "GET",
                    f"/api/{self.endpoint(each)}/status/{quote(job_id, safe='')}",
                    answers=lambda r: r.status_code in (400, 500) and _has(r, "jobId"),
                )
            except NotFoundError:
                if index == len(kinds) - 1:
                    raise
                continue
            return JobResult.from_json(response.json())
        raise AssertionError("unreachable")  # pragma: no cover

    def wait(
        self,
        job_id: str,
        kind: BatchKind | None,
        *,
        timeout: float | None = None,
        on_status: Callable[[JobResult], None] | None = None,
    ) -> Flow[JobResult]:
        """Poll until the job finishes, backing off; raises :class:`WaitTimeout` past
        ``timeout``. Rejection and failure are returned, not raised (see :meth:`push`)."""
        limit = self.poll.timeout if timeout is None else timeout
        started = self.clock()
        interval = self.poll.first_interval
        while True:
            result = yield from self.status(job_id, kind)
            kind = kind or _kind_of(result)
            if on_status is not None:
                on_status(result)
            if result.finished:
                return result
            waited = self.clock() - started
            if waited + interval > limit:
                raise WaitTimeout(result, waited)
            yield Sleep(interval)
            interval = min(self.poll.max_interval, interval * self.poll.factor)

    def push(
        self,
        kind: BatchKind,
        body: BatchBody,
        *,
        wait: bool,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        on_status: Callable[[JobResult], None] | None = None,
    ) -> Flow[JobResult]:
        job_id = yield from self.submit(kind, body, idempotency_key=idempotency_key)
        if not wait:
            result = yield from self.status(job_id, kind)
            if on_status is not None:
                on_status(result)
            return result
        result = yield from self.wait(job_id, kind, timeout=timeout, on_status=on_status)
        return check_finished(result)

    # -- exports ----------------------------------------------------------------------------

    def export_page(
        self,
        plan_id: str,
        *,
        skip: int,
        take: int = MAX_EXPORT_TAKE,
        sort_key: str = "sequenceId",
        sort_direction: str = "asc",
    ) -> Flow[ExportPage]:
        response = yield from self.request(
            "GET",
            f"/exports/plans/{quote(plan_id, safe='')}",
            params={
                "skip": str(skip),
                "take": str(take),
                "sortKey": sort_key,
                "sortDirection": sort_direction,
            },
        )
        body = response.json()
        items = tuple(PlanItem.from_json(item) for item in body.get("items") or ())
        return ExportPage(items=items, skip=skip, total_count=int(body.get("totalCount", 0)))

    def whoami(self) -> Flow[WhoAmI]:
        response = yield from self.request("GET", "/api/whoami")
        return WhoAmI.from_json(response.json())

    # -- feeds (API v2) ---------------------------------------------------------------------

    def _module_path(self, module: str) -> str:
        return self.feed_path(quote(module, safe=""))

    def _record_path(self, module: str, record_id: Any) -> str:
        return self.feed_path(f"{quote(module, safe='')}/{quote(str(record_id), safe='')}")

    def feed_page(self, query: FeedQuery, page: int) -> Flow[list[dict[str, Any]]]:
        """One page of a list: ``{"results": [...]}``."""
        response = yield from self.request(
            "GET", self._module_path(query.module), params=query.params(page)
        )
        return _results(response)

    def feed_count(self, query: FeedQuery) -> Flow[int]:
        """How many records the query's filter matches (``$count=true``, one row fetched)."""
        params = {**query.params(0), "$top": "1", "$count": "true"}
        response = yield from self.request("GET", self._module_path(query.module), params=params)
        body = _json_or_none(response)
        total = body.get("totalCount") if isinstance(body, dict) else None
        if not isinstance(total, int):
            raise ApiError(response.status_code, "bad_response", f"no totalCount in {body!r}")
        return total

    def get_record(
        self, module: str, record_id: Any, fields: Sequence[str] = ()
    ) -> Flow[dict[str, Any]]:
        """The record as an object (404 → :class:`NotFoundError`)."""
        params = {"$select": ",".join(fields)} if fields else None
        response = yield from self.request(
            "GET", self._record_path(module, record_id), params=params
        )
        return _record(response)

    def create_record(self, module: str, record: Mapping[str, Any]) -> Flow[Any]:
        """POST; the answer is 201 ``{"ID": n, "<Module>ID": n}``: returns n. Not retried
        once it may have reached the server (a retry could create a second record)."""
        response = yield from self.request(
            "POST", self._module_path(module), json_body=dict(record)
        )
        return _created_id(response)

    def create_record_answer(self, module: str, record: Mapping[str, Any]) -> Flow[dict[str, Any]]:
        """As :meth:`create_record`, returning the whole answer (an apikey's carries ``ApiKey``)."""
        response = yield from self.request(
            "POST", self._module_path(module), json_body=dict(record)
        )
        return _record(response)

    def update_record(
        self, module: str, record_id: Any, changes: Mapping[str, Any]
    ) -> Flow[dict[str, Any]]:
        """PUT the changed fields; the answer is the whole record."""
        response = yield from self.request(
            "PUT", self._record_path(module, record_id), json_body=dict(changes)
        )
        return _record(response)

    def upsert_record(
        self, module: str, match: str | Expr, record: Mapping[str, Any]
    ) -> Flow[UpsertResult]:
        """POST ``?$upsert=<filter>``: 200 with the updated record, or 201 when created."""
        response = yield from self.request(
            "POST",
            self._module_path(module),
            params={"$upsert": to_filter(match)},
            json_body=dict(record),
            idempotent=True,  # the same upsert twice leaves the same record
        )
        body = _json_or_none(response)
        created = response.status_code == 201
        record_id = _created_id(response) if created else _record_id(module, body)
        return UpsertResult(created=created, id=record_id, body=body)

    def delete_record(self, module: str, record_id: Any) -> Flow[dict[str, Any] | None]:
        """DELETE: None when the record is gone (204); a user's first DELETE only marks it
        Deleted and answers the record (200), which is returned."""
        # not retried once it may have reached the server: a user's second DELETE removes the
        # user the first one only marked Deleted, and any other record's answers 404
        response = yield from self.request(
            "DELETE", self._record_path(module, record_id), idempotent=False
        )
        if response.status_code == 204 or not response.content:
            return None
        return _record(response)


def check_finished(result: JobResult) -> JobResult:
    """Raise for a rejected or failed job; return an applied one."""
    if result.state is JobState.REJECTED:
        raise BatchRejected(result)
    if result.state is JobState.FAILED:
        raise JobFailed(result)
    return result


def _kind_of(result: JobResult) -> BatchKind | None:
    return result.kind if result.kind in _ENDPOINTS else None  # type: ignore[return-value]


def _has(response: httpx.Response, member: str) -> bool:
    body = _json_or_none(response)
    return isinstance(body, dict) and member in body


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _json_value(value: Any) -> Any:
    """Record values JSON has no type for: date-times and dates as ISO-8601 (a naive
    date-time is read as UTC by the server), decimals as numbers, enums by value."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"cannot send a {type(value).__name__} in a record; use JSON-able values")


def _results(response: httpx.Response) -> list[dict[str, Any]]:
    body = _json_or_none(response)
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise ApiError(
            response.status_code, "bad_response", f"no results array in the answer: {body!r:.300}"
        )
    return results


def _record(response: httpx.Response) -> dict[str, Any]:
    body = _json_or_none(response)
    if not isinstance(body, dict):
        raise ApiError(
            response.status_code, "bad_response", f"the answer is not a record: {body!r:.300}"
        )
    return body


def _created_id(response: httpx.Response) -> Any:
    """The new record's ID: ``ID`` of the 201 answer, else the end of its Location."""
    body = _json_or_none(response)
    if isinstance(body, dict) and "ID" in body:
        return body["ID"]
    location = response.headers.get("location")
    if location:
        return location.rstrip("/").rsplit("/", 1)[-1]
    raise ApiError(
        response.status_code, "bad_response", f"no ID in the creation answer: {body!r:.300}"
    )


def _record_id(module: str, record: Any) -> Any:
    """The ID of a record answered by the server: its ``<Module>ID`` field (module names are
    case-insensitive; an alias such as ``course`` falls back to the first ``…ID`` field)."""
    if not isinstance(record, dict):
        return None
    wanted = f"{module}id".lower()
    for key, value in record.items():
        if key.lower() == wanted:
            return value
    return next((v for k, v in record.items() if k.endswith("ID")), None)


def _transport_message(exc: httpx.TransportError, attempts: int) -> str:
    url = ""
    with contextlib.suppress(RuntimeError):
        url = f" {exc.request.url}"
    tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from{url} in time {tries}; raise the timeout or try again later"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect to{url} {tries} ({exc}); check the URL and that it is running"
    return f"the connection to{url} failed {tries} ({type(exc).__name__}: {exc})"


__all__ = [
    "Auth",
    "BatchBody",
    "ClientCore",
    "FeedQuery",
    "Flow",
    "PlanfeedError",
    "PollPolicy",
    "RequestSpec",
    "RetryPolicy",
    "Send",
    "Sleep",
    "batch_body",
    "check_finished",
]
