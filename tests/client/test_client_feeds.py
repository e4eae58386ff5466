"""The client's feeds (API v2) methods and password login against a real planfeed server
(uvicorn on loopback) loaded with the demo organisation, on SQLite and PostgreSQL (the
``demo``/``start_demo_server`` fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from client_support import FAST_RETRY, DroppingProxy, Flaky, RecordingTransport
from planfeed.accounts.models import AccessToken
from planfeed.audit.models import AuditEvent
from planfeed.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    ConnectionFailed,
    EnvironmentMismatch,
    F,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from planfeed.training.models import CourseDate

COURSE_DATES = CourseDate.__table__


def _ids(db, environment: str = "live", **where: Any) -> set[int]:
    query = select(COURSE_DATES.c.id).where(COURSE_DATES.c.environment == environment)
    for column, value in where.items():
        query = query.where(COURSE_DATES.c[column] == value)
    with db.engine.connect() as connection:
        return set(connection.scalars(query))


def _token_requests(recorder: Flaky, prefix: str = "accessplan") -> int:
    return sum(1 for method, path, _ in recorder.seen if path == f"/{prefix}/api/v2/token")


def test_feed_walks_every_page_lazily_each_record_once(db, demo, demo_url):
    available = _ids(db, status="Available")
    assert len(available) > 21  # several pages of 7
    transport = RecordingTransport()
    with Client(demo_url, api_key=demo.api_key, transport=transport) as client:
        feed = (
            client.feed("coursedate", page_size=7)
            .filter("Status eq 'Available'")
            .select("Label", "StartDate")
            .order_by("StartDate desc")
        )
        assert feed.count() == len(available)
        transport.requests.clear()
        records = iter(feed)
        first = next(records)
        assert len(transport.requests) == 1  # lazily: one page so far
        rest = list(records)
        lists = [r for r in transport.requests if r.url.path.endswith("/coursedate")]
        assert [r.url.params["$skip"] for r in lists] == [str(n) for n in range(len(lists))]
        assert {r.url.params["$top"] for r in lists} == {"7"}
        assert lists[0].url.params["$filter"] == "Status eq 'Available'"
        assert lists[0].url.params["$orderby"] == "StartDate desc"
        assert lists[0].url.path == "/accessplan/api/v2/coursedate"
        rows = [first, *rest]
        assert len(rows) == len(available)
        assert all(list(row) == ["Label", "StartDate"] for row in rows)  # $select order
        starts = [dt.datetime.fromisoformat(row["StartDate"]) for row in rows]
        assert starts == sorted(starts, reverse=True)

        # the same walk with the id selected: every record exactly once
        ids = [
            row["CourseDateID"]
            for row in client.feed("coursedate", page_size=7)
            .filter(F.Status == "Available")
            .select("CourseDateID", "StartDate")
            .order_by("StartDate desc")
        ]
        assert len(ids) == len(set(ids))
        assert set(ids) == available
        # a limit stops early, mid-page
        assert len(list(feed.limit(10))) == 10
        assert feed.first() == first

    async def walk() -> list[int]:
        async with AsyncClient(demo_url, api_key=demo.api_key) as client:
            feed = client.feed("coursedate", page_size=9).filter(F.Status == "Available")
            assert await feed.count() == len(available)
            return [row["CourseDateID"] async for row in feed.select("CourseDateID")]

    async_ids = asyncio.run(walk())
    assert len(async_ids) == len(available)
    assert set(async_ids) == available


def test_filter_builder_against_the_server(db, demo, demo_url):
    with Client(demo_url, api_key=demo.api_key) as client:
        quoted = client.create("company", {"Name": "O'Neil & Sons", "Email": "x@oneil.example"})
        client.create("company", {"Name": "O'Neill", "Phone": "0113 496 0000"})

        def names(expression) -> list[str]:
            rows = client.feed("company").filter(expression).select("Name").order_by("Name")
            return [row["Name"] for row in rows]

        no_phone = F.Phone == None  # noqa: E711
        has_phone = F.Phone != None  # noqa: E711
        assert names(F.Name == "O'Neil & Sons") == ["O'Neil & Sons"]
        assert names(F.Name.startswith("O'Neil")) == ["O'Neil & Sons", "O'Neill"]
        assert names(F.Name.contains("'NEIL ")) == ["O'Neil & Sons"]  # case-insensitive
        assert names(F.Name.isin(["Acme Ltd", "O'Neill", "nobody"])) == ["Acme Ltd", "O'Neill"]
        assert names((F.Name == "Initech") | (F.Name == "O'Neill") & no_phone) == ["Initech"]
        assert names(((F.Name == "Initech") | (F.Name == "O'Neill")) & has_phone) == ["O'Neill"]
        # two .filter() calls are joined with and; a hand-written one is parenthesised
        both = client.feed("company").filter("Name eq 'Initech' or Name eq 'O''Neill'")
        assert [r["Name"] for r in both.filter(no_phone)] == ["Initech"]
        assert client.get("company", quoted)["Name"] == "O'Neil & Sons"

        # dates and numbers: the server and the database agree
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        expression = (F.StartDate > now) & (F.Capacity >= 12) & (F.Status == "Available")
        ids = {r["CourseDateID"] for r in client.feed("coursedate").filter(expression)}
        with db.engine.connect() as connection:
            expected = set(
                connection.scalars(
                    select(COURSE_DATES.c.id).where(
                        COURSE_DATES.c.environment == "live",
                        COURSE_DATES.c.start_date > now,
                        COURSE_DATES.c.capacity >= 12,
                        COURSE_DATES.c.status == "Available",
                    )
                )
            )
        assert ids == expected
        assert ids


def test_get_create_update_upsert_delete(demo, demo_url):
    with Client(demo_url, api_key=demo.api_key) as client:
        new_id = client.create("company", {"Name": "Acme Two", "Email": "a@two.example"})
        assert isinstance(new_id, int)
        record = client.get("company", new_id)
        assert record["CompanyID"] == new_id
        assert record["Name"] == "Acme Two"
        assert client.get("company", new_id, select=["Email", "Name"]) == {
            "Email": "a@two.example",
            "Name": "Acme Two",
        }
        updated = client.update("company", new_id, {"Name": "Acme Two Ltd"})
        assert updated["CompanyID"] == new_id
        assert updated["Name"] == "Acme Two Ltd"
        assert updated["Email"] == "a@two.example"  # untouched

        again = client.upsert("company", F.Email == "a@two.example", {"Phone": "01"})
        assert (again.created, again.id) == (False, new_id)
        assert again.body["Phone"] == "01"
        assert again.body["Name"] == "Acme Two Ltd"
        made = client.upsert("company", F.Email == "b@three.example", {"Name": "Three"})
        assert made.created
        assert made.id != new_id
        assert client.get("company", made.id)["Email"] == "b@three.example"  # from the filter
        same = client.upsert("company", "Email eq 'b@three.example'", {"Name": "Three plc"})
        assert (same.created, same.id) == (False, made.id)

        assert client.delete("company", new_id) is None
        with pytest.raises(NotFoundError) as missing:
            client.get("company", new_id)
        assert missing.value.status == 404
        assert missing.value.code == "not_found"

        # a user is first marked Deleted (the record comes back), then removed
        user_id = client.create(
            "user", {"Username": "jsmith", "Email": "j@x.example", "Surname": "Smith"}
        )
        first = client.delete("user", user_id)
        assert first is not None
        assert first["UserID"] == user_id
        assert first["Status"] == "Deleted"
        assert client.delete("user", user_id) is None
        with pytest.raises(NotFoundError):
            client.delete("user", user_id)

        # datetimes in a record are sent as ISO-8601
        course = next(iter(client.feed("coursetemplate").select("CourseID")))["CourseID"]
        start = dt.datetime(2031, 3, 1, 9, 0, tzinfo=dt.UTC)
        date_id = client.create(
            "coursedate",
            {
                "CourseID": course,
                "Label": "March",
                "StartDate": start,
                "EndDate": start + dt.timedelta(hours=8),
            },
        )
        stored = client.get("coursedate", date_id, select=["StartDate"])
        assert dt.datetime.fromisoformat(stored["StartDate"]) == start


def test_typed_errors_from_the_server(db, demo, demo_url):
    with Client(demo_url, api_key=demo.api_key) as admin:
        with pytest.raises(ValidationError) as bad_record:
            admin.create("coursedate", {"Nope": 1, "Capacity": "lots"})
        error = bad_record.value
        assert (error.status, error.code) == (400, "invalid_record")
        fields = {e.field: e.message for e in error.field_errors}
        assert "Nope" in fields
        assert "unknown field" in fields["Nope"]
        assert "'lots' is not a whole number" in fields["Capacity"]

        with pytest.raises(ValidationError) as bad_query:
            list(admin.feed("coursedate").filter("StartDat eq 'x'").order_by("Label sideways"))
        error = bad_query.value
        assert error.code == "invalid_query"
        by_option = {e.option: e for e in error.field_errors}
        assert by_option["$filter"].field == "StartDat"
        assert by_option["$filter"].position == 0
        assert "did you mean StartDate?" in by_option["$filter"].message
        assert by_option["$orderby"].position == 6
        assert by_option["$filter"].describe().startswith("$filter (position 0): unknown field")

        with pytest.raises(ValidationError) as ambiguous:
            admin.upsert("company", F.Name != "nobody", {"Phone": "1"})
        assert ambiguous.value.code == "ambiguous_upsert"

        with pytest.raises(NotFoundError):
            admin.get("coursedate", 987654)
        with pytest.raises(NotFoundError):
            admin.update("coursedate", 987654, {"Label": "x"})

        booked = next(iter(admin.feed("coursedate").filter(F.Booked > 0).select("CourseDateID")))
        with pytest.raises(ConflictError) as conflict:
            admin.delete("coursedate", booked["CourseDateID"])
        assert conflict.value.status == 409

        # a plain User's key, made through the apikey module (the key is in the answer only)
        alice = next(iter(admin.feed("user").filter(F.Username == "alice")))
        answer = admin.create_answer("apikey", {"Label": "alice", "UserID": alice["UserID"]})
        assert answer["ID"] == answer["ApiKeyID"]
        assert answer["ApiKey"].startswith("pfk_live_")
        user_key = answer["ApiKey"]

    with Client(demo_url, api_key=user_key) as user:
        assert [r["UserID"] for r in user.feed("user")] == [alice["UserID"]]  # own record only
        with pytest.raises(PermissionDeniedError) as forbidden:
            list(user.feed("apikey"))
        assert (forbidden.value.status, forbidden.value.code) == (403, "forbidden")
        with pytest.raises(PermissionDeniedError):
            user.create("company", {"Name": "Not mine"})

    with Client(demo_url, api_key="pfk_live_" + "A" * 43) as stranger:
        with pytest.raises(AuthenticationError) as refused:
            stranger.feed("coursedate").count()
        assert refused.value.status == 401
        assert refused.value.code
    with Client(demo_url, token="pft_nosuchtoken") as stale:
        with pytest.raises(AuthenticationError) as refused:
            stale.get("coursedate", 1)
        assert refused.value.code == "invalid_token"


def _audited_tokens(db) -> int:
    with db.engine.connect() as connection:
        return connection.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.entity == "token")
        )


def test_password_login_renews_the_token_after_it_expires(db, demo, start_demo_server):
    url, recorder = start_demo_server(token_lifetime_seconds=2)
    with Client(url, username=demo.username, password=demo.password) as client:
        assert client.whoami().user == demo.username
        assert client.feed("coursedate").count() == len(_ids(db))
        assert _token_requests(recorder) == 1  # one token for both requests
        time.sleep(2.2)  # past the lifetime (the client renews at 90% of a short one)
        assert client.feed("company").count() >= 3
        assert _token_requests(recorder) == 2
    assert _audited_tokens(db) == 2
    # the token went as a bearer token, the password only to the token endpoint
    assert [p for m, p, _ in recorder.seen if m == "POST"] == ["/accessplan/api/v2/token"] * 2


def test_password_login_renews_once_after_a_401(db, demo, start_demo_server):
    url, recorder = start_demo_server()
    transport = RecordingTransport()
    with Client(url, username=demo.username, password=demo.password, transport=transport) as c:
        assert c.get("company", 1)["CompanyID"] == 1
        with db.engine.begin() as connection:  # the server forgets every token
            assert connection.execute(delete(AccessToken.__table__)).rowcount == 1
        assert c.get("company", 1)["CompanyID"] == 1
        assert [(r.method, r.url.path) for r in transport.requests] == [
            ("POST", "/accessplan/api/v2/token"),
            ("GET", "/accessplan/api/v2/company/1"),
            ("GET", "/accessplan/api/v2/company/1"),  # 401 invalid_token
            ("POST", "/accessplan/api/v2/token"),
            ("GET", "/accessplan/api/v2/company/1"),
        ]
    assert _token_requests(recorder) == 2

    # a new token that is refused at once is not renewed again and again
    with Client(url, username=demo.username, password=demo.password) as client:
        client.whoami()
        with db.engine.begin() as connection:
            connection.execute(delete(AccessToken.__table__))
        with pytest.raises(NotFoundError):
            client.get("company", 424242)
    assert _token_requests(recorder) == 4

    with Client(url, username=demo.username, password="wrong") as client:
        with pytest.raises(AuthenticationError) as refused:
            client.whoami()
        assert refused.value.code == "invalid_grant"
        assert "username or password" in refused.value.message or refused.value.message


def test_sandbox_client_uses_the_sandbox_prefix(db, demo, start_demo_server):
    url, recorder = start_demo_server()
    with Client(url, api_key=demo.sandbox_api_key) as client:
        assert client.environment == "sandbox"
        made = client.create("company", {"Name": "Sandbox Co"})
        assert client.get("company", made)["Name"] == "Sandbox Co"
        assert client.feed("coursedate").count() == len(_ids(db, "sandbox"))
    feeds = [path for _, path, _ in recorder.seen]
    assert feeds
    assert all(path.startswith("/accessplansandbox/api/v2/") for path in feeds)
    with Client(url, api_key=demo.api_key) as live:
        assert list(live.feed("company").filter(F.Name == "Sandbox Co")) == []

    recorder.seen.clear()
    with Client(
        url, username=demo.username, password=demo.password, environment="sandbox"
    ) as client:
        assert [r["Name"] for r in client.feed("company").filter(F.Name == "Sandbox Co")] == [
            "Sandbox Co"
        ]
    assert [path for _, path, _ in recorder.seen] == [
        "/accessplansandbox/api/v2/token",
        "/accessplansandbox/api/v2/company",
    ]
    with pytest.raises(EnvironmentMismatch):
        Client(url, api_key=demo.sandbox_api_key, environment="live")


def test_a_delete_whose_answer_is_lost_is_not_sent_again(demo, demo_url):
    """A user's second DELETE would remove the user the first one only marked Deleted."""
    with Client(demo_url, api_key=demo.api_key) as admin:
        user_id = admin.create("user", {"Username": "lost", "Email": "l@x.example"})
    host, port = demo_url.removeprefix("http://").split(":")
    proxy = DroppingProxy((host, int(port)), drops=1, mode="after").start()
    try:
        with Client(proxy.url, api_key=demo.api_key, retry=FAST_RETRY) as client:
            with pytest.raises(ConnectionFailed):
                client.delete("user", user_id)
            assert proxy.connections == 1
            assert client.get("user", user_id)["Status"] == "Deleted"  # marked, not removed
    finally:
        proxy.close()
