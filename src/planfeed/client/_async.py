"""The asyncio/trio client: :class:`AsyncClient` drives the same flows with
``httpx.AsyncClient``; only the two I/O steps (send, sleep) differ from :class:`Client`."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import anyio
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
from planfeed.client._sync import BatchSource
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


class AsyncClient:
    """The async twin of :class:`planfeed.client.Client`: same arguments, awaitable methods,
    async iterators for exports and feeds."""

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
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str = True,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
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
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport, verify=verify
        )

    @property
    def environment(self) -> Environment:
        return self.core.environment

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def _run(self, flow: Flow[T]) -> T:
        reply: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(reply)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            reply, error = None, None
            if isinstance(step, Sleep):
                await self._sleep(step.seconds)
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
                reply = await self._http.send(request)
            except httpx.TransportError as exc:
                error = exc

    # -- batch ------------------------------------------------------------------------------

    async def push_progress(
        self,
        source: BatchSource,
        *,
        wait: bool = True,
        filename: str | None = None,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        on_status: Callable[[JobResult], None] | None = None,
    ) -> JobResult:
        return await self.push(
            "progress",
            source,
            wait=wait,
            filename=filename,
            wait_timeout=wait_timeout,
            idempotency_key=idempotency_key,
            on_status=on_status,
        )

    async def push_metrics(
        self,
        source: BatchSource,
        *,
        wait: bool = True,
        filename: str | None = None,
        wait_timeout: float | None = None,
        idempotency_key: str | None = None,
        on_status: Callable[[JobResult], None] | None = None,
    ) -> JobResult:
        return await self.push(
            "metric",
            source,
            wait=wait,
            filename=filename,
            wait_timeout=wait_timeout,
            idempotency_key=idempotency_key,
            on_status=on_status,
        )

    async def push(
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
        body = batch_body(source, filename)
        return await self._run(
            self.core.push(
                kind,
                body,
                wait=wait,
                timeout=wait_timeout,
                idempotency_key=idempotency_key,
                on_status=on_status,
            )
        )

    async def validate(
        self, kind: BatchKind, source: BatchSource, *, filename: str | None = None
    ) -> ValidationReport:
        return await self._run(self.core.validate(kind, batch_body(source, filename)))

    async def job_status(self, job_id: str, kind: BatchKind | None = None) -> JobResult:
        return await self._run(self.core.status(job_id, kind))

    async def wait(
        self,
        job_id: str,
        kind: BatchKind | None = None,
        *,
        wait_timeout: float | None = None,
        on_status: Callable[[JobResult], None] | None = None,
    ) -> JobResult:
        flow = self.core.wait(job_id, kind, timeout=wait_timeout, on_status=on_status)
        return await self._run(flow)

    # -- exports ----------------------------------------------------------------------------

    async def export_pages(
        self,
        plan_id: str,
        *,
        sort_key: str = "sequenceId",
        sort_direction: str = "asc",
        page_size: int = MAX_EXPORT_TAKE,
    ) -> AsyncIterator[ExportPage]:
        skip = 0
        while True:
            page = await self._run(
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

    async def export_plan(
        self,
        plan_id: str,
        *,
        sort_key: str = "sequenceId",
        sort_direction: str = "asc",
        page_size: int = MAX_EXPORT_TAKE,
    ) -> AsyncIterator[PlanItem]:
        async for page in self.export_pages(
            plan_id, sort_key=sort_key, sort_direction=sort_direction, page_size=page_size
        ):
            for item in page.items:
                yield item

    async def whoami(self) -> WhoAmI:
        return await self._run(self.core.whoami())

    # -- feeds ------------------------------------------------------------------------------

    def feed(self, module: str, *, page_size: int = DEFAULT_FEED_PAGE) -> AsyncFeed:
        return AsyncFeed(self, FeedQuery(module=module, page_size=page_size))

    async def get(
        self, module: str, record_id: Any, *, select: Sequence[str] = ()
    ) -> dict[str, Any]:
        return await self._run(self.core.get_record(module, record_id, select))

    async def create(self, module: str, record: Mapping[str, Any]) -> Any:
        return await self._run(self.core.create_record(module, record))

    async def create_answer(self, module: str, record: Mapping[str, Any]) -> dict[str, Any]:
        return await self._run(self.core.create_record_answer(module, record))

    async def update(
        self, module: str, record_id: Any, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        return await self._run(self.core.update_record(module, record_id, changes))

    async def upsert(
        self, module: str, match: str | Expr, record: Mapping[str, Any]
    ) -> UpsertResult:
        return await self._run(self.core.upsert_record(module, match, record))

    async def delete(self, module: str, record_id: Any) -> dict[str, Any] | None:
        return await self._run(self.core.delete_record(module, record_id))


class AsyncFeed:
    """The async :class:`planfeed.client.Feed`: ``async for record in feed``."""

    def __init__(self, client: AsyncClient, query: FeedQuery) -> None:
        self._client = client
        self.query = query

    def _with(self, **changes: Any) -> AsyncFeed:
        return AsyncFeed(self._client, dataclasses.replace(self.query, **changes))

    def filter(self, expression: str | Expr) -> AsyncFeed:
        return AsyncFeed(self._client, self.query.with_filter(expression))

    def select(self, *fields: str) -> AsyncFeed:
        return self._with(fields=fields)

    def order_by(self, *keys: str) -> AsyncFeed:
        return self._with(order=keys)

    def page_size(self, size: int) -> AsyncFeed:
        return self._with(page_size=size)

    def limit(self, count: int) -> AsyncFeed:
        return self._with(limit=count)

    async def count(self) -> int:
        return await self._client._run(self._client.core.feed_count(self.query))

    async def pages(self) -> AsyncIterator[list[dict[str, Any]]]:
        page = 0
        seen = 0
        while True:
            rows = await self._client._run(self._client.core.feed_page(self.query, page))
            if self.query.limit is not None:
                rows = rows[: max(0, self.query.limit - seen)]
            seen += len(rows)
            if rows:
                yield rows
            done = self.query.limit is not None and seen >= self.query.limit
            if done or len(rows) < self.query.page_size:
                return
            page += 1

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async for rows in self.pages():
            for row in rows:
                yield row
