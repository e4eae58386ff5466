"""Helpers for the client tests: plans, a uvicorn server on a free loopback port in a
thread, an ASGI middleware that fails or delays requests, a loopback TCP proxy that drops
connections, and a transport that records what was sent (on top of the real one)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select

from planfeed.client import RetryPolicy
from planfeed.db.base import Environment
from planfeed.jobs.models import Job
from planfeed.plans.models import Plan, PlanItem, PlanLevel
from planfeed.plans.sequence import parent_sequence, sequence_key


def make_plan(tenant, environment=Environment.LIVE, items=None, name="Plan", prefix="EXT-"):
    """A plan; ``items`` are (sequence, has_metric) pairs; returns its public id."""
    items = items or (("1", False), ("1.1", True), ("1.2", False), ("1.10", True))
    with tenant.session(environment) as session, session.begin():
        plan = Plan(name=name)
        plan.levels = [PlanLevel(depth=1, name="Goal"), PlanLevel(depth=2, name="Step")]
        session.add(plan)
        session.flush()
        by_sequence: dict[str, PlanItem] = {}
        for sequence, has_metric in items:
            parent = by_sequence.get(parent_sequence(sequence))
            by_sequence[sequence] = row = PlanItem(
                parent_id=parent.id if parent else None,
                plan_id=plan.id,
                sequence_id=sequence,
                sequence_key=sequence_key(sequence),
                external_id=f"{prefix}{sequence}",
                name=f"Item {sequence}",
                has_metric=has_metric,
                level_id=plan.levels[min(sequence.count("."), 1)].id,
                current_value=1.0 if has_metric else None,
                baseline=0.0 if has_metric else None,
                target=2.5 if has_metric else None,
            )
            session.add(row)
            if len(items) < 100:  # big plans are flat: no parent ids needed
                session.flush()
        return plan.public_id


def item(tenant, external_id, environment=Environment.LIVE):
    with tenant.session(environment) as session:
        return session.scalar(select(PlanItem).where(PlanItem.external_id == external_id))


def job_count(tenant, environment=Environment.LIVE):
    with tenant.session(environment) as session:
        return session.scalar(select(func.count()).select_from(Job))


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


def start_server(app: Any) -> LiveServer:
    sock = _free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", server, thread)


def stop_server(live: LiveServer) -> None:
    live.server.should_exit = True
    live.thread.join(20)


class Flaky:
    """ASGI middleware that answers the first ``times`` matching requests itself (e.g. 503
    with Retry-After), or delays them, before letting requests through to the app."""

    def __init__(
        self,
        app: Any,
        *,
        times: int = 1,
        status: int = 503,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        match: Callable[[dict[str, Any]], bool] = lambda scope: True,
    ) -> None:
        self.app = app
        self.remaining = times
        self.status = status
        self.headers = headers or {}
        self.delay = delay
        self.match = match
        self.seen: list[tuple[str, str, float]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.match(scope):
            await self.app(scope, receive, send)
            return
        self.seen.append((scope["method"], scope["path"], time.monotonic()))
        if self.remaining <= 0:
            await self.app(scope, receive, send)
            return
        self.remaining -= 1
        if self.delay:
            await asyncio.sleep(self.delay)
            await self.app(scope, receive, send)
            return
        body = b'{"error":"unavailable","message":"try again shortly"}'
        headers = [(b"content-type", b"application/json")] + [
            (k.lower().encode(), v.encode()) for k, v in self.headers.items()
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@dataclass
class DroppingProxy:
    """A loopback TCP proxy. The first ``drops`` connections are cut: ``mode="before"``
    closes them as soon as the client sends (the server never sees the request);
    ``mode="after"`` forwards the request and closes the client's side when the server's
    answer starts, so the server did the work but the client never hears of it."""

    upstream: tuple[str, int]
    drops: int = 1
    mode: str = "after"
    connections: int = 0
    dropped: int = 0
    url: str = ""
    _listener: socket.socket = field(default_factory=_free_socket)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> DroppingProxy:
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            doomed = self.dropped < self.drops
            if doomed:
                self.dropped += 1
            threading.Thread(target=self._serve, args=(client, doomed), daemon=True).start()

    def _serve(self, client: socket.socket, doomed: bool) -> None:
        if doomed and self.mode == "before":
            client.recv(65536)
            client.close()
            return
        upstream = socket.create_connection(self.upstream)
        threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
        self._pump(upstream, client, doomed)

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, cut_on_data: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if cut_on_data:
                    break  # the answer is lost on the way back
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


FAST_RETRY = RetryPolicy(attempts=5, backoff=0.02, max_backoff=0.1)


class RecordingTransport(httpx.HTTPTransport):
    """The real HTTP transport, keeping a list of the requests it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)

    @staticmethod
    def async_() -> AsyncRecordingTransport:
        return AsyncRecordingTransport()


class AsyncRecordingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await super().handle_async_request(request)
