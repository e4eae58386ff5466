"""The web pages through the ASGI app on both databases: sign-in, sessions, CSRF, every page's
permission answer, and the writes the pages make (progress updates, API keys, users)."""

import datetime as dt
import re

import pytest
from sqlalchemy import func, select, update

from planfeed.accounts.models import ApiKey, Role, User
from planfeed.audit.models import AuditEvent
from planfeed.db.base import Environment, utcnow
from planfeed.jobs.models import Job, JobState
from planfeed.plans.models import PlanItem, ProgressUpdate
from planfeed.web.chart import metric_chart
from planfeed.web.models import WebSession
from web_support import PASSWORD, csrf_of, make_web_plan, sign_in


@pytest.fixture
def acme(make_tenant):
    tenant = make_tenant("acme")
    tenant.user("root", Role.SUPER_ADMIN)
    tenant.user("boss", Role.ADMIN)
    tenant.user("viewer", Role.USER)
    tenant.user("outsider", Role.USER)
    tenant.ids = make_web_plan(tenant, viewer="viewer")
    return tenant


def signed_in(client, login, password=PASSWORD):
    response = sign_in(client, login, password)
    assert response.status_code == 303, response.text
    return client


def csrf(client, path="/plans"):
    return csrf_of(client.get(path).text)


# --- sign-in, sessions, CSRF -------------------------------------------------------------------


def test_sign_in_sets_a_safe_session_cookie_and_opens_the_plans(client, acme):
    response = sign_in(client, "root")
    assert response.status_code == 303
    assert response.headers["location"] == "/plans"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("planfeed_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP in the test; HTTPS below
    page = client.get("/plans")
    assert page.status_code == 200
    assert "Growth Plan" in page.text
    assert "LIVE" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    with acme.session() as session:
        stored = session.scalars(select(WebSession.token_hash)).all()
    secret = client.cookies.get("planfeed_session")
    assert len(stored) == 1
    assert secret not in stored  # only the hash is kept


def test_cookie_is_secure_over_https(app, acme):
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="https://testserver", client=("127.0.0.1", 1)) as https:
        response = sign_in(https, "root")
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("planfeed_session=")
    )
    assert "Secure" in cookie


def test_wrong_password_unknown_user_and_missing_fields(client, acme):
    for login, password in (("root", "wrong password"), ("nobody", PASSWORD)):
        response = sign_in(client, login, password)
        assert response.status_code == 401
        assert "The user ID or password is wrong" in response.text
        assert "planfeed_session" not in response.headers.get("set-cookie", "")
    response = sign_in(client, "root", "")
    assert response.status_code == 400
    assert "Enter your user ID and your password" in response.text


def test_sign_in_shares_the_lockout_of_the_token_endpoint(client, acme):
    for _ in range(5):
        sign_in(client, "boss", "wrong password")
    response = sign_in(client, "boss", PASSWORD)
    assert response.status_code == 401
    assert "locked" in response.text
    token = client.post(
        "/accessplan/api/v2/token",
        data={"grant_type": "password", "username": "boss", "password": PASSWORD},
    )
    assert token.status_code == 400
    assert "locked" in token.json()["error_description"]


def test_sign_in_without_the_form_token_is_refused(client, acme):
    response = client.post(
        "/signin", data={"login": "root", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "expired or came from another site" in response.text


def test_pages_send_strangers_to_sign_in_and_back(client, acme):
    path = f"/plans/{acme.ids['plan']}?status=At+Risk"
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Fplans%2F" + acme.ids["plan"] + (
        "%3Fstatus%3DAt%2BRisk"
    )
    page = client.get("/signin", params={"next": path})
    response = client.post(
        "/signin",
        data={
            "csrf_token": csrf_of(page.text),
            "login": "root",
            "password": PASSWORD,
            "next": path,
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == path


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_sign_in_never_redirects_off_site(client, acme, target):
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={
            "csrf_token": csrf_of(page.text),
            "login": "root",
            "password": PASSWORD,
            "next": target,
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/plans"


def test_post_without_csrf_token_is_refused_and_changes_nothing(client, acme):
    signed_in(client, "root")
    item = acme.ids["item 1.2"]
    for data in ({}, {"csrf_token": "forged"}):
        response = client.post(
            f"/items/{item}/updates",
            data={**data, "status": "Achieved", "as_of": "2026-01-01"},
        )
        assert response.status_code == 403
        assert "Form expired" in response.text
        response = client.post("/signout", data=data, follow_redirects=False)
        assert response.status_code == 403
    with acme.session() as session:
        assert session.scalar(select(func.count()).select_from(ProgressUpdate)) == 3
    assert client.get("/plans").status_code == 200  # still signed in


def test_sign_out_ends_the_session_for_good(client, acme):
    signed_in(client, "root")
    secret = client.cookies.get("planfeed_session")
    response = client.post("/signout", data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin")
    assert client.get("/plans", follow_redirects=False).status_code == 303
    client.cookies.set("planfeed_session", secret)  # a copy of the old cookie is worthless
    assert client.get("/plans", follow_redirects=False).status_code == 303


def test_expired_session_asks_to_sign_in_again(client, acme):
    signed_in(client, "root")
    with acme.session() as session, session.begin():
        session.execute(update(WebSession).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    response = client.get("/plans", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin")


def test_deactivated_user_loses_the_session_at_once(client, acme):
    signed_in(client, "viewer")
    with acme.session() as session, session.begin():
        session.execute(update(User).where(User.login == "viewer").values(status="Inactive"))
    assert client.get("/plans", follow_redirects=False).status_code == 303


# --- permissions per page ----------------------------------------------------------------------


PAGES = {
    # path template: expected status for (root SuperAdmin, boss Admin, viewer, outsider)
    "/plans": (200, 200, 200, 200),
    "/plans/{plan}": (200, 200, 200, 403),
    "/plans/{plan}/external-ids.csv": (200, 200, 403, 403),
    "/items/{item}": (200, 200, 200, 403),
    "/jobs": (200, 200, 200, 200),
    "/admin/api-keys": (200, 403, 403, 403),
    "/admin/users": (200, 200, 403, 403),
}


@pytest.mark.parametrize("path", list(PAGES))
def test_each_page_answers_each_role_as_the_api_would(app, acme, path):
    from fastapi.testclient import TestClient

    url = path.format(plan=acme.ids["plan"], item=acme.ids["item 1.1"])
    for login, expected in zip(("root", "boss", "viewer", "outsider"), PAGES[path], strict=True):
        with TestClient(app, client=("127.0.0.1", 50001)) as browser:
            assert browser.get(url, follow_redirects=False).status_code == 303
            signed_in(browser, login)
            response = browser.get(url, follow_redirects=False)
            assert response.status_code == expected, (login, url, response.text[:300])
            if expected == 403:
                assert "Not allowed" in response.text
                assert response.headers["content-type"].startswith("text/html")


def test_plain_user_cannot_add_keys_or_users_even_by_posting(client, acme):
    signed_in(client, "viewer")
    token = csrf(client)
    with acme.session() as session:
        viewer_id = session.scalar(select(User.id).where(User.login == "viewer"))
    response = client.post(
        "/admin/api-keys",
        data={"csrf_token": token, "label": "mine", "user_id": str(viewer_id), "enabled": "on"},
    )
    assert response.status_code == 403
    response = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "login": "sneaky",
            "email": "s@x.example",
            "role": "SuperAdmin",
            "password": "long enough password",
        },
    )
    assert response.status_code == 403
    with acme.session() as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 0
        assert session.scalar(select(User.id).where(User.login == "sneaky")) is None
    nav = client.get("/plans").text
    assert "/admin/api-keys" not in nav
    assert "/admin/users" not in nav


def test_viewer_sees_no_export_action_and_cannot_post_updates(client, acme):
    signed_in(client, "viewer")
    page = client.get(f"/plans/{acme.ids['plan']}").text
    assert "Copy Plan ID" in page
    assert "Export External IDs" not in page
    item_page = client.get(f"/items/{acme.ids['item 1.2']}").text
    assert "Post a progress update" not in item_page
    response = client.post(
        f"/items/{acme.ids['item 1.2']}/updates",
        data={"csrf_token": csrf(client), "status": "Achieved", "as_of": "2026-01-01"},
    )
    assert response.status_code == 403


# --- plans and items ---------------------------------------------------------------------------


def test_plans_page_counts_items_by_status(client, acme):
    signed_in(client, "root")
    page = client.get("/plans").text
    assert re.search(r"<strong>4</strong> items", page)
    for label in ("On Track", "At Risk", "Off Track", "Not Started"):
        assert label in page
    assert f'data-copy="{acme.ids["plan"]}"' in page
    assert f'href="/plans/{acme.ids["plan"]}/external-ids.csv"' in page


def test_plan_page_tree_markers_and_filters(client, acme):
    signed_in(client, "root")
    url = f"/plans/{acme.ids['plan']}"
    page = client.get(url).text
    names = re.findall(r'<a href="/items/[^"]+">([^<]+)</a>', page)
    assert names == ["Grow revenue", "Win new customers", "Raise prices", "Reduce churn"]
    assert "Past due" in page
    assert "late update" in page
    assert "40% of the way to target" in page
    assert "25% of the way to target" in page  # decreasing metric: 10 → 8 of 10 → 2
    filtered = client.get(url, params={"status": "Off Track"}).text
    assert re.findall(r'<a href="/items/[^"]+">([^<]+)</a>', filtered) == ["Raise prices"]
    with acme.session() as session:
        from planfeed.plans.models import PlanLevel

        step = session.scalar(select(PlanLevel.id).where(PlanLevel.name == "Step"))
        root_id = session.scalar(select(User.id).where(User.login == "root"))
    by_level = client.get(url, params={"level": str(step)}).text
    assert "Grow revenue" not in by_level
    assert "Reduce churn" in by_level
    assert "4 items" in client.get(url, params={"assignee": str(root_id)}).text
    assert "0 items" in client.get(url, params={"assignee": "999999"}).text
    assert client.get(url, params={"level": "nonsense", "status": "bogus"}).status_code == 200


def test_external_ids_download(client, acme):
    signed_in(client, "boss")
    response = client.get(f"/plans/{acme.ids['plan']}/external-ids.csv")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        'attachment; filename="Growth_Plan-external-ids.csv"'
    )
    lines = response.text.splitlines()
    assert lines[0] == "External ID,Sequence,Level,Name"
    assert [line.split(",")[0] for line in lines[1:]] == ["EXT-1", "EXT-1.1", "EXT-1.2", "EXT-1.10"]


def test_item_page_shows_details_history_and_chart(client, acme):
    signed_in(client, "root")
    page = client.get(f"/items/{acme.ids['item 1.1']}").text
    for text in ("Win new customers", "Launch checklist", "Agree scope", "Customers", "Week -8"):
        assert text in page
    assert "<polyline" in page
    assert "Metric of Win new customers over time" in page
    assert "3 values from" in page
    assert "Baseline 0" in page
    assert "Target 100" in page


def test_progress_update_through_the_form(client, acme):
    signed_in(client, "boss")
    item = acme.ids["item 1.1"]
    today = dt.date.today().isoformat()
    response = client.post(
        f"/items/{item}/updates",
        data={
            "csrf_token": csrf(client),
            "status": "on track",
            "value": "55.5",
            "as_of": today,
            "comment": "Typed by hand",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"]).text
    assert "The progress update is saved" in page
    assert "Typed by hand" in page
    assert "4 values from" in page
    with acme.session() as session:
        row = session.scalar(select(PlanItem).where(PlanItem.public_id == item))
        assert row.current_value == 55.5
        assert row.status == 1
        update_row = session.scalar(
            select(ProgressUpdate).where(ProgressUpdate.comment == "Typed by hand")
        )
        assert update_row.source == "web"
        assert update_row.author_id is not None


@pytest.mark.parametrize(
    ("item", "data", "message"),
    [
        ("item 1.2", {"status": "Done"}, "is not a status"),
        ("item 1.2", {"status": "On Trak"}, 'Did you mean "On Track"?'),
        ("item 1.2", {"status": ""}, "the Status is missing"),
        ("item 1.1", {"status": "On Track", "value": ""}, "the Current Metric Value is required"),
        ("item 1.1", {"status": "On Track", "value": "50%"}, "write 0.5 for 50%"),
        ("item 1.1", {"status": "On Track", "value": "lots"}, "is not a number"),
        ("item 1.2", {"status": "On Track", "as_of": "31/31/2026"}, "is not a date"),
        ("item 1.2", {"status": "On Track", "as_of": ""}, "the As Of Date is missing"),
        ("item 1.2", {"status": "On Track", "comment": "x" * 4001}, "at most 4000"),
    ],
)
def test_bad_progress_updates_are_refused_with_the_batch_messages(
    client, acme, item, data, message
):
    signed_in(client, "root")
    form = {"csrf_token": csrf(client), "as_of": "2026-01-05", **data}
    response = client.post(f"/items/{acme.ids[item]}/updates", data=form)
    assert response.status_code == 400
    assert message in response.text.replace("&#34;", '"').replace("&#39;", "'")
    assert 'aria-invalid="true"' in response.text
    with acme.session() as session:
        assert session.scalar(select(func.count()).select_from(ProgressUpdate)) == 3


# --- jobs --------------------------------------------------------------------------------------


def test_jobs_list_and_rejected_job_errors(client, acme):
    with acme.session() as session, session.begin():
        root = session.scalar(select(User).where(User.login == "root"))
        session.add(
            Job(
                id="11111111-1111-1111-1111-111111111111",
                kind="progress",
                filename="bad_updates.csv",
                content_sha256="0" * 64,
                state=JobState.REJECTED.value,
                submitted_by_id=root.id,
                total_rows=2,
                applied_rows=0,
                errors=[
                    {
                        "row": 2,
                        "column": "Status",
                        "value": "Done",
                        "message": "'Done' is not a status",
                    },
                    {
                        "row": 3,
                        "column": "As Of Date",
                        "value": "",
                        "message": "the As Of Date is missing",
                    },
                ],
            )
        )
        session.add(
            Job(
                id="22222222-2222-2222-2222-222222222222",
                kind="metric",
                filename="later.csv",
                content_sha256="1" * 64,
                state=JobState.RUNNING.value,
                submitted_at=utcnow() + dt.timedelta(seconds=5),
            )
        )
    signed_in(client, "viewer")
    page = client.get("/jobs").text
    assert page.index("later.csv") < page.index("bad_updates.csv")  # newest first
    assert 'http-equiv="refresh"' in page  # a job still runs
    job = client.get("/jobs/11111111-1111-1111-1111-111111111111")
    assert job.status_code == 200
    assert "&#39;Done&#39; is not a status" in job.text
    assert "the As Of Date is missing" in job.text
    assert 'http-equiv="refresh"' not in job.text
    assert client.get("/jobs/nope").status_code == 404
    assert client.get("/jobs/" + "x" * 80).status_code == 404


# --- API keys ----------------------------------------------------------------------------------


def test_api_key_lifecycle_through_the_pages(client, acme):
    signed_in(client, "root")
    with acme.session() as session:
        boss_id = session.scalar(select(User.id).where(User.login == "boss"))
    token = csrf(client, "/admin/api-keys")
    response = client.post(
        "/admin/api-keys",
        data={
            "csrf_token": token,
            "label": "Finance System - Xero",
            "user_id": str(boss_id),
            "enabled": "on",
            "expiration_date": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
            "ip_whitelist": "127.0.0.1\n10.0.0.0/8",
        },
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "it will not be shown again" in response.text
    key = re.search(r'id="new-key-value"[^>]*value="(pfk_live_[A-Za-z0-9]+)"', response.text)
    assert key, response.text
    key = key.group(1)
    assert (
        client.get("/api/whoami", headers={"Authorization": f"API-KEY {key}"}).json()["user"]
        == "boss"
    )
    listing = client.get("/admin/api-keys").text
    assert key not in listing  # shown once only
    assert key[:13] in listing
    assert "127.0.0.1/32, 10.0.0.0/8" in listing
    with acme.session() as session:
        key_id = session.scalar(select(ApiKey.id))
    response = client.post(
        f"/admin/api-keys/{key_id}/state", data={"csrf_token": token, "action": "disable"}
    )
    assert "The key is disabled" in response.text
    denied = client.get("/api/whoami", headers={"Authorization": f"API-KEY {key}"})
    assert denied.json()["error"] == "key_disabled"
    client.post(f"/admin/api-keys/{key_id}/state", data={"csrf_token": token, "action": "enable"})
    bad = client.post(
        f"/admin/api-keys/{key_id}",
        data={"csrf_token": token, "expiration_date": "", "ip_whitelist": "not-an-ip"},
    )
    assert bad.status_code == 400
    assert "is not an IP address or CIDR range" in bad.text
    past = client.post(
        f"/admin/api-keys/{key_id}",
        data={"csrf_token": token, "expiration_date": "2020-01-01", "ip_whitelist": ""},
    )
    assert past.status_code == 400
    assert "is in the past" in past.text
    response = client.post(
        f"/admin/api-keys/{key_id}",
        data={"csrf_token": token, "expiration_date": "", "ip_whitelist": "192.0.2.0/24"},
    )
    assert "expiry date and IP whitelist are saved" in response.text
    refused = client.get("/api/whoami", headers={"Authorization": f"API-KEY {key}"})
    assert refused.json()["error"] == "address_not_allowed"
    client.post(f"/admin/api-keys/{key_id}/state", data={"csrf_token": token, "action": "delete"})
    gone = client.get("/api/whoami", headers={"Authorization": f"API-KEY {key}"})
    assert gone.json()["error"] == "unknown_key"
    with acme.session() as session:
        actions = session.execute(
            select(AuditEvent.action, AuditEvent.credential_kind).where(
                AuditEvent.entity == "apikey"
            )
        ).all()
    assert [a for a, _ in actions] == ["create", "update", "update", "update", "delete"]
    assert {kind for _, kind in actions} == {"session"}


def test_add_key_form_errors(client, acme):
    signed_in(client, "root")
    token = csrf(client, "/admin/api-keys")
    for data, message in (
        ({"label": "", "user_id": "1"}, "a key needs a label"),
        ({"label": "x", "user_id": ""}, "choose the active user"),
        ({"label": "x", "user_id": "999999"}, "choose the active user"),
        ({"label": "x", "user_id": "1", "expiration_date": "soon"}, "is not a date"),
    ):
        response = client.post("/admin/api-keys", data={"csrf_token": token, **data})
        assert response.status_code == 400
        assert message in response.text.replace("&#39;", "'").lower()
    with acme.session() as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 0


# --- users -------------------------------------------------------------------------------------


def test_users_admin_create_role_and_deactivate(client, acme, app):
    signed_in(client, "boss")  # an Admin
    token = csrf(client, "/admin/users")
    page = client.get("/admin/users").text
    assert "<option>SuperAdmin</option>" not in page
    denied = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "login": "king",
            "email": "k@x.example",
            "role": "SuperAdmin",
            "password": "long enough password",
        },
    )
    assert denied.status_code == 403
    short = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "login": "carol",
            "email": "c@x.example",
            "role": "User",
            "password": "short",
        },
    )
    assert short.status_code == 400
    assert "at least 8 characters" in short.text
    created = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "login": "carol",
            "email": "c@x.example",
            "role": "User",
            "forenames": "Carol",
            "surname": "Clark",
            "password": "long enough password",
        },
    )
    assert "The user is created" in created.text
    with acme.session() as session:
        carol = session.scalar(select(User).where(User.login == "carol"))
        root_id = session.scalar(select(User.id).where(User.login == "root"))
    response = client.post(
        f"/admin/users/{carol.id}", data={"csrf_token": token, "action": "role", "role": "Admin"}
    )
    assert "The role is changed" in response.text
    assert (
        client.post(
            f"/admin/users/{root_id}", data={"csrf_token": token, "action": "deactivate"}
        ).status_code
        == 403
    )  # only a SuperAdmin deactivates a SuperAdmin
    from fastapi.testclient import TestClient

    with TestClient(app, client=("127.0.0.1", 50002)) as carol_browser:
        signed_in(carol_browser, "carol", "long enough password")
        assert carol_browser.get("/plans").status_code == 200
        response = client.post(
            f"/admin/users/{carol.id}", data={"csrf_token": token, "action": "deactivate"}
        )
        assert "deactivated" in response.text
        assert carol_browser.get("/plans", follow_redirects=False).status_code == 303
        assert sign_in(carol_browser, "carol", "long enough password").status_code == 401
    with acme.session() as session:
        boss_id = session.scalar(select(User.id).where(User.login == "boss"))
    own = client.post(f"/admin/users/{boss_id}", data={"csrf_token": token, "action": "deactivate"})
    assert own.status_code == 400
    assert "cannot deactivate your own account" in own.text


# --- environments ------------------------------------------------------------------------------


def test_environment_switch(client, acme):
    signed_in(client, "root")
    token = csrf(client)
    missing = client.post(
        "/session/environment", data={"csrf_token": token, "environment": "sandbox"}
    )
    assert missing.status_code == 409
    assert "no active user &#39;root&#39; in the sandbox" in missing.text
    acme.user("root", Role.SUPER_ADMIN, Environment.SANDBOX)
    response = client.post(
        "/session/environment",
        data={"csrf_token": token, "environment": "sandbox"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = client.get("/plans").text
    assert "sandbox-banner" in page
    assert "Switch to LIVE" in page
    assert "Growth Plan" not in page  # the sandbox has no plan yet
    bad = client.post(
        "/session/environment", data={"csrf_token": csrf(client), "environment": "prod"}
    )
    assert bad.status_code == 400
    with acme.session() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0
    with acme.session(Environment.SANDBOX) as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 1


def test_sign_in_to_the_sandbox_directly(client, acme):
    acme.user("viewer", Role.USER, Environment.SANDBOX)
    response = sign_in(client, "viewer", environment="sandbox")
    assert response.status_code == 303
    page = client.get("/plans").text
    assert "SANDBOX" in page
    assert "Switch to LIVE" in page


# --- the chart ---------------------------------------------------------------------------------


def test_chart_text_alternative_and_shapes():
    svg = metric_chart(
        [(dt.date(2026, 1, 1), 10.0), (dt.date(2026, 2, 1), 30.0)],
        baseline=0.0,
        target=100.0,
        title="Metric <of> X",
    )
    assert 'role="img"' in svg
    assert '<title id="metric-chart-title">Metric &lt;of&gt; X</title>' in svg
    assert "2 values from 2026-01-01 (10) to 2026-02-01 (30); baseline 0; target 100." in svg
    assert svg.count("<circle") == 2
    assert svg.count('class="ref ') == 2
    empty = metric_chart([], baseline=None, target=None, title="t")
    assert "No metric values have been recorded yet." in empty
    assert "<polyline" not in empty
    single = metric_chart([(dt.date(2026, 1, 1), 5.0)], baseline=5.0, target=5.0, title="t")
    assert single.count("<circle") == 1


def test_home_sends_to_sign_in_or_plans(client, acme):
    response = client.get("/", follow_redirects=False)
    assert response.headers["location"] == "/signin"
    signed_in(client, "viewer")
    assert client.get("/", follow_redirects=False).headers["location"] == "/plans"


def test_pages_load_nothing_from_elsewhere(client, acme):
    signed_in(client, "root")
    for path in ("/plans", f"/plans/{acme.ids['plan']}", f"/items/{acme.ids['item 1.1']}"):
        html = client.get(path).text
        assert not re.search(r'(src|href)="(https?:)?//', html), path
    assert client.get("/assets/planfeed.css").status_code == 200
    assert client.get("/assets/planfeed.js").status_code == 200
