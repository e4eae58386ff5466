"""The web interface in a real browser (Debian's Chromium) against a real ``planfeed serve``:
the six scenarios of issue 6, with screenshots of every main page at desktop and phone width."""

import time

import httpx
import pytest
from playwright.sync_api import expect

from planfeed.accounts.models import Role
from planfeed.db.base import Environment
from web_support import PASSWORD, make_web_plan

pytestmark = pytest.mark.slow

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def acme(make_tenant):
    tenant = make_tenant("acme")
    tenant.user("root", Role.SUPER_ADMIN)
    tenant.user("viewer", Role.USER)
    tenant.ids = make_web_plan(tenant, viewer="viewer")
    return tenant


@pytest.fixture
def shoot(screenshot):
    """Screenshot a page at desktop width and again at a phone's width (375 px)."""

    def both(page, name):
        page.set_viewport_size(DESKTOP)
        desktop = screenshot(page, f"{name}-desktop")
        page.set_viewport_size(PHONE)
        phone = screenshot(page, f"{name}-phone")
        width = page.evaluate("document.documentElement.scrollWidth")
        page.set_viewport_size(DESKTOP)
        assert width <= PHONE["width"], f"{name} scrolls sideways on a phone ({width} px)"
        return desktop, phone

    return both


def sign_in(page, server, login, password=PASSWORD):
    page.goto(f"{server.url}/plans")
    assert "/signin" in page.url
    page.get_by_label("User ID", exact=True).fill(login)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/plans")


def allow_clipboard(page, server):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)


def assert_clean(page, *provoked: int):
    """No request left this machine, no script failed, and the only failed loads are the
    answers the test provoked on purpose (e.g. 400 for a bad form)."""
    recorder = page.recorder
    assert recorder.external_requests() == []
    assert recorder.page_errors == []
    expected = {
        f"Failed to load resource: the server responded with a status of {code}"
        for code in provoked
    }
    unexpected = [e for e in recorder.console_errors if not any(e.startswith(x) for x in expected)]
    assert unexpected == []


def test_sign_in(live_server, page, acme, shoot):
    page.goto(f"{live_server.url}/plans")
    assert "/signin" in page.url
    shoot(page, "signin")
    page.get_by_label("User ID", exact=True).fill("root")
    page.get_by_label("Password", exact=True).fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("The user ID or password is wrong")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/plans")
    assert page.get_by_role("heading", name="Plans").is_visible()
    assert page.locator(".env-badge").inner_text() == "LIVE"
    cookie = next(c for c in page.context.cookies() if c["name"] == "planfeed_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"
    shoot(page, "plans")
    acme.user("root", Role.SUPER_ADMIN, Environment.SANDBOX)
    page.get_by_role("button", name="Switch to SANDBOX").click()
    page.wait_for_url(f"{live_server.url}/plans")
    assert page.locator(".env-badge").inner_text() == "SANDBOX"
    assert "nothing here changes live data" in page.locator(".sandbox-banner").inner_text()
    shoot(page, "plans-sandbox")
    page.get_by_role("button", name="Switch to LIVE").click()
    page.wait_for_url(f"{live_server.url}/plans")
    assert page.locator(".env-badge").inner_text() == "LIVE"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin?signed_out=1")
    assert "You are signed out" in page.content()
    assert_clean(page, 401)


def test_open_plan_copy_id_and_download_external_ids(live_server, page, acme, shoot, tmp_path):
    allow_clipboard(page, live_server)
    sign_in(page, live_server, "root")
    card = page.locator(".card", has_text="Growth Plan")
    card.get_by_text("Options").click()
    card.get_by_role("button", name="Copy Plan ID").click()
    expect(page.locator("#live-region")).to_have_text("Plan ID copied")
    assert page.evaluate("navigator.clipboard.readText()") == acme.ids["plan"]
    card.get_by_text("Options").click()  # keyboard: Escape closes the menu
    page.keyboard.press("Escape")
    card.get_by_text("Options").focus()
    page.keyboard.press("Enter")
    with page.expect_download() as download_info:
        card.get_by_role("link", name="Export External IDs").click()
    download = download_info.value
    assert download.suggested_filename == "Growth_Plan-external-ids.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "External ID,Sequence,Level,Name"
    assert lines[1:] == [
        "EXT-1,1,Goal,Grow revenue",
        "EXT-1.1,1.1,Step,Win new customers",
        "EXT-1.2,1.2,Step,Raise prices",
        "EXT-1.10,1.10,Step,Reduce churn",
    ]
    page.get_by_role("link", name="Growth Plan").click()
    page.wait_for_url(f"**/plans/{acme.ids['plan']}")
    assert page.locator("table.items tbody tr").count() == 4
    assert page.get_by_text("Past due").first.is_visible()
    shoot(page, "plan")
    page.get_by_label("Status").select_option("Off Track")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**status=Off+Track**")
    assert page.locator("table.items tbody tr").count() == 1
    assert_clean(page)


def test_progress_update_through_the_form(live_server, page, acme, shoot):
    sign_in(page, live_server, "root")
    page.goto(f"{live_server.url}/items/{acme.ids['item 1.1']}")
    assert page.locator("svg.chart circle").count() == 3
    page.get_by_label("Status").select_option("Off Track")
    page.get_by_label("Current metric value (required)").fill("lots")
    page.get_by_role("button", name="Post update").click()
    assert "is not a number" in page.locator(".field-error").inner_text()
    assert page.locator("svg.chart circle").count() == 3
    page.get_by_label("Current metric value (required)").fill("62.5")
    page.get_by_label("Comment").fill("Big win this week")
    page.get_by_role("button", name="Post update").click()
    page.wait_for_url("**saved=1**")
    assert page.get_by_role("status").filter(has_text="saved").is_visible()
    first_row = page.locator("#history tbody tr").first
    assert "Big win this week" in first_row.inner_text()
    assert "Off Track" in first_row.inner_text()
    assert page.locator("svg.chart circle").count() == 4
    assert "to " in page.locator("svg.chart desc").text_content()
    assert "(62.5)" in page.locator("svg.chart desc").text_content()
    shoot(page, "item")
    assert_clean(page, 400)


def test_create_api_key_copy_it_and_use_it(live_server, page, acme, shoot):
    allow_clipboard(page, live_server)
    sign_in(page, live_server, "root")
    page.get_by_role("link", name="API Keys").click()
    page.wait_for_url("**/admin/api-keys")
    page.get_by_label("Label").fill("Finance System - Xero")
    page.get_by_label("User", exact=True).select_option(label="viewer (User)")
    assert page.get_by_label("Enabled").is_checked()
    page.get_by_label("Expiry date (optional)").fill("2099-12-31")
    page.get_by_label("IP whitelist (optional", exact=False).fill("127.0.0.1")
    page.get_by_role("button", name="Add key").click()
    assert "it will not be shown again" in page.get_by_role("alert").inner_text()
    page.get_by_role("button", name="Copy key").click()
    expect(page.locator("#live-region")).to_have_text("API key copied")
    key = page.evaluate("navigator.clipboard.readText()")
    assert key.startswith("pfk_live_")
    shoot(page, "api-keys-new")
    answer = httpx.get(f"{live_server.url}/api/whoami", headers={"Authorization": f"API-KEY {key}"})
    assert answer.status_code == 200
    assert answer.json()["user"] == "viewer"
    page.goto(f"{live_server.url}/admin/api-keys")
    assert key not in page.content()
    row = page.locator("tr", has_text="Finance System - Xero")
    assert "127.0.0.1/32" in row.inner_text()
    row.get_by_role("button", name="Disable Finance System - Xero").click()
    page.wait_for_url("**done=disabled**")
    assert "✕ Disabled" in page.locator("tr", has_text="Finance System - Xero").inner_text()
    refused = httpx.get(
        f"{live_server.url}/api/whoami", headers={"Authorization": f"API-KEY {key}"}
    )
    assert refused.json()["error"] == "key_disabled"
    page.goto(f"{live_server.url}/admin/users")
    shoot(page, "users")
    page.goto(f"{live_server.url}/admin/api-keys")
    shoot(page, "api-keys")
    assert_clean(page)


def test_plain_user_cannot_reach_key_administration(live_server, page, acme, screenshot):
    sign_in(page, live_server, "viewer")
    assert page.get_by_role("link", name="API Keys").count() == 0
    assert page.get_by_role("link", name="Users").count() == 0
    response = page.goto(f"{live_server.url}/admin/api-keys")
    assert response.status == 403
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    assert "may not manage API keys" in page.content()
    assert page.locator("form[action='/admin/api-keys']").count() == 0
    screenshot(page, "forbidden")


def test_rejected_job_shows_its_row_errors(live_server, page, acme, shoot):
    key = acme.key("root")
    body = (
        b"EXT-1.1,Done,0.5,2026-01-05\n"
        b"EXT-NOPE,On Track,,2026-01-05\n"
        b"EXT-1.2,On Track,,31/31/2026\n"
    )
    submitted = httpx.post(
        f"{live_server.url}/api/progressupdates/bad_updates",
        content=body,
        headers={"Authorization": f"API-KEY {key}", "Content-Type": "text/csv"},
    )
    assert submitted.status_code == 200, submitted.text
    job_id = submitted.json()["jobId"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = httpx.get(
            f"{live_server.url}/api/progressupdates/status/{job_id}",
            headers={"Authorization": f"API-KEY {key}"},
        )
        if status.json()["state"] not in ("queued", "running"):
            break
        time.sleep(0.2)
    assert status.json()["state"] == "rejected"
    sign_in(page, live_server, "viewer")
    page.get_by_role("link", name="Jobs").click()
    row = page.locator("table.jobs tbody tr").first
    assert "bad_updates" in row.inner_text()
    assert "REJECTED" in row.inner_text().upper()
    shoot(page, "jobs")
    row.get_by_role("link").click()
    page.wait_for_url(f"**/jobs/{job_id}")
    errors = page.locator("table.row-errors tbody tr")
    assert errors.count() == 3
    texts = errors.all_inner_texts()
    assert "'Done' is not a status" in texts[0]
    assert "no plan item has this External ID" in texts[1]
    assert "is not a date" in texts[2]
    shoot(page, "job")
    assert_clean(page)
