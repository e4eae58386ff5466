"""The blocking client: :class:`Client` drives the shared flows with ``httpx.Client``."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from planfeed import __version__
from planfeed.client._core import (
    DEFAULT_FEED_PAGE,
    MAX_EXPORT_TAKE,
    ClientCore,
    FeedQuery,
    Flow,
    PollPolicy,
    RetryPolicy,
    Sleep,
    batch_body,
)
from planfeed.client.filters import Expr
from planfeed.client.models import (
    BatchKind,
    Environment,
    ExportPage,
    JobResult,
    PlanItem,
    UpsertResult,
    ValidationReport,
    WhoAmI,
)

T = TypeVar("T")
BatchSource = str | os.PathLike[str] | bytes | Iterable[Any]


class Client:
    """A planfeed client. Give ``api_key=``, ``token=``, or ``username=`` and ``password=``
    (the 60-minute token is then fetched and renewed by itself).

    ``environment`` ("live" or "sandbox") picks the feeds path prefix; for planfeed keys it is
    read from the key, and a mismatch is refused. ``timeout`` is in seconds (or an
    ``httpx.Timeout``); ``retry`` and ``poll`` tune backoff and job polling; ``transport``
    swaps the HTTP transport (a proxy, an in-process server).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        environment: Environment | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        verify: bool | str = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.core = ClientCore(
            api_key=api_key,
            token=token,
            username=username,
            password=password,
            environment=environment,
            retry=retry,
            poll=poll,
            user_agent=f"planfeed-client/{__version__}",
        )
        self.base_url = base_url.rstrip("/")
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=transport, verify=verify
        )

    @property
    def environment(self) -> Environment:
        return self.core.environment

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _run(self, flow: Flow[T]) -> T:
        reply: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(reply)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            reply, error = None, None
            if isinstance(step, Sleep):
                self._sleep(step.seconds)
                continue
            spec = step.request
            request = self._http.build_request(
                spec.method,
                spec.url,
                params=spec.params,
                headers=spec.headers,
                content=spec.content,
                data=spec.data,
            )
            try:
                reply = self._http.send(request)
            except httpx.TransportError as exc:
                error = exc

    # -- batch ------------------------------------------------------------------------------

    def push_progress(
        self,
        source: BatchSource,
        *,
        wait: bool = True,
        filename: str | None = None,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        on_status: Callable[[JobResult], None] | None = None,
    ) -> JobResult:
        """Push progress updates (a CSV/JSON path, bytes, or rows). With ``wait``, poll until
        applied and return the result; a rejected file raises :class:`BatchRejected`."""
        return self.push(
            "progress",
            source,
            wait=wait,
            filename=filename,
            wait_timeout=wait_timeout,
            idempotency_key=idempotency_key,
            on_status=on_status,
        )

    def push_metrics(
        self,
        source: BatchSource,
        *,
        wait: bool = True,
        filename: str | None = None,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        on_status: Callable[[JobResult], None] | None = None,
    ) -> JobResult:
        """Push metric updates; as :meth:`push_progress`."""
        return self.push(
            "metric",
            source,
            wait=wait,
            filename=filename,
            wait_timeout=wait_timeout,
            idempotency_key=idempotency_key,
            on_status=on_status,
        )

    def push(
        self,
        kind: BatchKind,
        source: BatchSource,
        *,
        wait: bool = True,
        filename: str | None = None,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        on_status: Callable[[JobResult], None] | None = None,
    ) -> JobResult:
        """Push a ``"progress"`` or ``"metric"`` file; see :meth:`push_progress`."""
        body = batch_body(source, filename)
        return self._run(
            self.core.push(
                kind,
                body,
                wait=wait,
                timeout=wait_timeout,
                idempotency_key=idempotency_key,
                on_status=on_status,
            )
        )

    def validate(
        self, kind: BatchKind, source: BatchSource, *, filename: str | None = None
    ) -> ValidationReport:
        """Check a file with the server's dry run: nothing is queued or applied."""
        return self._run(self.core.validate(kind, batch_body(source, filename)))

    def job_status(self, job_id: str, kind: BatchKind | None = None) -> JobResult:
        """A job's current status (without ``kind``, both endpoints are tried)."""
        return self._run(self.core.status(job_id, kind))

    def wait(
        self,
        job_id: str,
        kind: BatchKind | None = None,
        *,
        wait_timeout: float | None = None,
        on_status: Callable[[JobResult], None] | None = None,
    ) -> JobResult:
        """Poll with backoff until the job finishes; returns the final status (not raising
        for a rejection); :class:`WaitTimeout` past ``wait_timeout`` seconds."""
        return self._run(self.core.wait(job_id, kind, timeout=wait_timeout, on_status=on_status))

    # -- exports ----------------------------------------------------------------------------

    def export_pages(
        self,
        plan_id: str,
        *,
        sort_key: str = "sequenceId",
        sort_direction: str = "asc",
        page_size: int = MAX_EXPORT_TAKE,
    ) -> Iterator[ExportPage]:
        """Every page of a plan export, fetched lazily (the largest page by default)."""
        skip = 0
        while True:
            page = self._run(
                self.core.export_page(
                    plan_id,
                    skip=skip,
                    take=page_size,
                    sort_key=sort_key,
                    sort_direction=sort_direction,
                )
            )
            yield page
            skip += len(page.items)
            if not page.items or skip >= page.total_count:
                return

    def export_plan(
        self,
        plan_id: str,
        *,
        sort_key: str = "sequenceId",
        sort_direction: str = "asc",
        page_size: int = MAX_EXPORT_TAKE,
    ) -> Iterator[PlanItem]:
        """Every item of the plan, across all pages, as typed :class:`PlanItem` values."""
        for page in self.export_pages(
            plan_id, sort_key=sort_key, sort_direction=sort_direction, page_size=page_size
        ):
            yield from page.items

    def whoami(self) -> WhoAmI:
        """Whom the credentials belong to (organisation, environment, user, role)."""
        return self._run(self.core.whoami())

    # -- feeds ------------------------------------------------------------------------------

    def feed(self, module: str, *, page_size: int = DEFAULT_FEED_PAGE) -> Feed:
        """A lazy query over an API v2 module, e.g. ``client.feed("coursedate")``."""
        return Feed(self, FeedQuery(module=module, page_size=page_size))

    def get(self, module: str, record_id: Any, *, select: Sequence[str] = ()) -> dict[str, Any]:
        """One record as a dict (only the ``select``ed fields when given); a missing record,
        or one the user may not see, raises :class:`NotFoundError`."""
        return self._run(self.core.get_record(module, record_id, select))

    def create(self, module: str, record: Mapping[str, Any]) -> Any:
        """Create a record; returns its ID (the answer's ``ID``)."""
        return self._run(self.core.create_record(module, record))

    def create_answer(self, module: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """Create a record; returns the whole answer, e.g. ``{"ID": 7, "ApiKeyID": 7,
        "ApiKey": "pfk_live_…"}`` for an ``apikey`` (the key is shown only here)."""
        return self._run(self.core.create_record_answer(module, record))

    def update(self, module: str, record_id: Any, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change only the given fields of a record; returns the whole record as it now is."""
        return self._run(self.core.update_record(module, record_id, changes))

    def upsert(self, module: str, match: str | Expr, record: Mapping[str, Any]) -> UpsertResult:
        """Update the one record ``match`` finds, or create it; ``.created`` says which.
        Several matches raise :class:`ValidationError` (``ambiguous_upsert``)."""
        return self._run(self.core.upsert_record(module, match, record))

    def delete(self, module: str, record_id: Any) -> dict[str, Any] | None:
        """Delete a record; None once it is gone. A user's first delete only marks it
        Deleted and returns the record; a second delete removes it."""
        return self._run(self.core.delete_record(module, record_id))


class Feed:
    """An immutable, lazily paged query; iterate it for every matching record."""

    def __init__(self, client: Client, query: FeedQuery) -> None:
        self._client = client
        self.query = query

    def _with(self, query: FeedQuery) -> Feed:
        return Feed(self._client, query)

    def filter(self, expression: str | Expr) -> Feed:
        """Add a condition (several are joined with ``and``)."""
        return self._with(self.query.with_filter(expression))

    def select(self, *fields: str) -> Feed:
        return self._with(_replace(self.query, fields=fields))

    def order_by(self, *keys: str) -> Feed:
        return self._with(_replace(self.query, order=keys))

    def page_size(self, size: int) -> Feed:
        return self._with(_replace(self.query, page_size=size))

    def limit(self, count: int) -> Feed:
        """Stop after ``count`` records."""
        return self._with(_replace(self.query, limit=count))

    def count(self) -> int:
        """How many records the filter matches (one request; ``limit`` is not applied)."""
        return self._client._run(self._client.core.feed_count(self.query))

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        """The records page by page (``$top`` = page size, ``$skip`` = page number), each
        page fetched only when the previous one has been consumed."""
        page = 0
        seen = 0
        while True:
            rows = self._client._run(self._client.core.feed_page(self.query, page))
            if self.query.limit is not None:
                rows = rows[: max(0, self.query.limit - seen)]
            seen += len(rows)
            if rows:
                yield rows
            done = self.query.limit is not None and seen >= self.query.limit
            if done or len(rows) < self.query.page_size:
                return
            page += 1

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for rows in self.pages():
            yield from rows

    def first(self) -> dict[str, Any] | None:
        return next(iter(self.limit(1).page_size(1)), None)


def _replace(query: FeedQuery, **changes: Any) -> FeedQuery:
    return dataclasses.replace(query, **changes)
