"""Browser tests: Playwright driving Debian's Chromium against a real ``planfeed serve``.

Fixtures:

- ``live_server``: a started ``planfeed serve`` (worker on) on the test database (``db``, so
  SQLite and PostgreSQL), at ``live_server.url``. Make tenants and data with ``make_tenant``.
- ``browser``: one headless Chromium per test module (``/usr/bin/chromium``, or
  ``PLANFEED_TEST_CHROMIUM``). Playwright's own browser download is never used.
- ``page``: a fresh browser context and page per test, with ``page.recorder`` noting every
  request, console error and page error; a screenshot is saved when the test fails.
- ``screenshot(page, name)``: save ``test-artifacts/<test>-<name>.png`` at the repo root.

Without Chromium the tests skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = os.environ.get("PLANFEED_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEFAULT_TIMEOUT_MS = 15_000


def _require_chromium() -> None:
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return
    reason = (
        f"browser tests need Chromium at {CHROMIUM}: install it with "
        "`apt-get install -y chromium` (or set PLANFEED_TEST_CHROMIUM)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


def is_loopback(url: str) -> bool:
    """True for URLs the browser may load: this machine, or data:/blob:/about: URLs."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Recorder:
    """What a page did: every request URL, console errors and uncaught page errors."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def external_requests(self) -> list[str]:
        return [url for url in self.requests if not is_loopback(url)]


@pytest.fixture(autouse=True)
def _chromium_present() -> None:
    """Skip (or fail under CI) before any server is started for a test that cannot run."""
    _require_chromium()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One Chromium per test module. Not per session: Playwright's sync API keeps an event loop
    running in this thread while it is open, and later asyncio tests (the async client) need
    the thread's loop free."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(start_server):
    """A ``planfeed serve`` with its worker, on the test database."""
    return start_server(worker=True)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120]


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``screenshot(page, "name")`` saves a full-page PNG under test-artifacts/ and returns it."""

    def save(page: object, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{_safe_name(request.node.name)}-{_safe_name(name)}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path

    return save


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Keep each phase's report on the item, so ``page`` can screenshot a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request: pytest.FixtureRequest, screenshot) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    recorder = Recorder()
    context.on("request", lambda req: recorder.requests.append(req.url))
    new_page = context.new_page()
    new_page.on(
        "console",
        lambda message: (
            recorder.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    new_page.on("pageerror", lambda error: recorder.page_errors.append(str(error)))
    new_page.recorder = recorder
    yield new_page
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        try:
            saved = screenshot(new_page, "failure")
            print(f"screenshot of the failure: {saved}")
        except Exception as exc:  # the page may be gone; the test's own error matters more
            print(f"no failure screenshot: {exc}")
    context.close()
