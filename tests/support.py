"""Constants and helpers shared by test modules (``tests`` is on pytest's pythonpath)."""

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

TEST_SECRET = "test-secret-" + "x" * 40


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn server on a loopback port, in a thread; yields its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def add_plan(tenant: Any, name: str = "Plan", environment: Any = None) -> int:
    """A new empty plan of ``tenant`` (live unless ``environment``); returns its id."""
    from planfeed.db.base import Environment
    from planfeed.plans.models import Plan

    with tenant.session(environment or Environment.LIVE) as session, session.begin():
        plan = Plan(name=name)
        session.add(plan)
        session.flush()
        return plan.id
