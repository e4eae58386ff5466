"""Fixtures for the client tests: a real planfeed server (uvicorn on a free loopback port, in
a thread, with the app's own batch worker), a flaky variant, and a connection-dropping proxy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from client_support import DroppingProxy, Flaky, LiveServer, make_plan, start_server, stop_server
from planfeed.accounts.models import Role
from planfeed.db.base import Environment
from planfeed.demo import DemoCredentials, load_demo
from planfeed.http.app import create_app
from support import TEST_SECRET


@pytest.fixture
def acme(make_tenant):
    tenant = make_tenant("acme")
    tenant.user("root", Role.SUPER_ADMIN, password=None)  # keys only: skip argon2's cost
    tenant.user("viewer", Role.USER, password=None)
    tenant.user("root", Role.SUPER_ADMIN, Environment.SANDBOX, password=None)
    tenant.plan_id = make_plan(tenant)
    tenant.sandbox_plan_id = make_plan(tenant, Environment.SANDBOX, name="Sandbox plan")
    tenant.live_key = tenant.key("root")
    tenant.viewer_key = tenant.key("viewer")
    tenant.sandbox_key = tenant.key("root", Environment.SANDBOX)
    return tenant


@pytest.fixture
def live_settings(settings):
    """The test settings with the in-process batch worker on (it polls every 0.25 s)."""
    return settings.model_copy(update={"run_worker": True})


@pytest.fixture
def server(live_settings, db) -> Iterator[str]:
    """The planfeed app served over real TCP; yields its base URL."""
    live = start_server(create_app(live_settings, engine=db.engine))
    yield live.url
    stop_server(live)


@pytest.fixture
def flaky_server(live_settings, db):
    """Start a server whose app is wrapped in :class:`Flaky`; returns (url, middleware)."""
    started: list[LiveServer] = []

    def start(**options: Any) -> tuple[str, Flaky]:
        middleware = Flaky(create_app(live_settings, engine=db.engine), **options)
        started.append(start_server(middleware))
        return started[-1].url, middleware

    yield start
    for live in started:
        stop_server(live)


@pytest.fixture
def dropping_proxy(server):
    proxies: list[DroppingProxy] = []

    def make(mode: str = "after", drops: int = 1) -> DroppingProxy:
        host, port = server.removeprefix("http://").split(":")
        proxy = DroppingProxy((host, int(port)), drops=drops, mode=mode).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


@pytest.fixture
def demo(db, tmp_path) -> DemoCredentials:
    return load_demo(db.engine, TEST_SECRET, tmp_path / "data")


@pytest.fixture
def start_demo_server(settings, db, demo) -> Iterator[Any]:
    """Start a server (settings overridable, e.g. token_lifetime_seconds) over the demo data;
    returns (url, recorder). The app is wrapped in :class:`Flaky` with nothing to fail, only
    to record each request that reaches it (method, path), e.g. to count token requests."""
    started: list[LiveServer] = []

    def start(**overrides: Any) -> tuple[str, Flaky]:
        app = create_app(settings.model_copy(update=overrides), engine=db.engine)
        recorder = Flaky(app, times=0)
        started.append(start_server(recorder))
        return started[-1].url, recorder

    yield start
    for live in started:
        stop_server(live)


@pytest.fixture
def demo_url(start_demo_server) -> str:
    return start_demo_server()[0]
