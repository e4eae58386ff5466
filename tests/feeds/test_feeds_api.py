"""The feeds API v2 over HTTP against the demo data, on SQLite and PostgreSQL.

Every example URL and request of seed 004 is sent verbatim (host changed); then the paging,
error, write, upsert, delete, access and custom-field rules of issue 4.
"""

import datetime as dt
import threading

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from planfeed.accounts.models import Role, User
from planfeed.accounts.service import create_api_key, create_user
from planfeed.audit.models import AuditEvent
from planfeed.auth.principal import system_principal
from planfeed.custom_fields.models import CustomFieldDefinition
from planfeed.db.base import Environment
from planfeed.db.engine import make_sessionmaker
from planfeed.db.scope import Scope, bind_scope
from planfeed.demo import load_demo
from planfeed.plans.models import PlanItem
from planfeed.training.models import CourseDate
from support import TEST_SECRET, running_server

LIVE = "/accessplan/api/v2"
SANDBOX = "/accessplansandbox/api/v2"


class Demo:
    """The demo organisation with a key per user role and an HTTP client."""

    def __init__(self, db, client, credentials):
        self.db = db
        self.client = client
        self.credentials = credentials
        self.keys = {"admin": credentials.api_key}
        with make_sessionmaker(db.engine)() as unscoped:
            self.organisation_id = unscoped.scalar(select(User.organisation_id).limit(1))

    def session(self, environment=Environment.LIVE):
        session = make_sessionmaker(self.db.engine, writer=True)()
        return bind_scope(session, Scope(self.organisation_id, environment))

    def key_for(self, login, environment=Environment.LIVE):
        if login not in self.keys:
            with self.session(environment) as session, session.begin():
                user = session.scalar(select(User).where(User.login == login))
                principal = system_principal(self.organisation_id, "demo", environment)
                self.keys[login] = create_api_key(
                    session, principal, TEST_SECRET, user=user, label="t", environment=environment
                )[1]
        return self.keys[login]

    def request(self, method, url, login="admin", **kwargs):
        headers = {"Authorization": f"Bearer {self.key_for(login)}", **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def results(self, url, **kwargs):
        response = self.get(url, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()["results"]


@pytest.fixture
def demo(db, client, tmp_path):
    return Demo(db, client, load_demo(db.engine, TEST_SECRET, tmp_path))


def test_every_seed_read_example_works_verbatim(demo):
    first_aid = demo.results(f"{LIVE}/coursedate?$filter=CourseID eq 'FirAid'")
    assert first_aid
    assert all(r["CourseID"] == "FirAid" for r in first_aid)
    others = demo.results(f"{LIVE}/coursedate?$filter=CourseID ne 'FirAid'")
    assert others
    assert all(r["CourseID"] != "FirAid" for r in others)
    cut = "2025-01-01T10:00:00"
    for operator, holds in {
        "lt": lambda s: s < cut,
        "le": lambda s: s <= cut,
        "gt": lambda s: s > cut,
        "ge": lambda s: s >= cut,
    }.items():
        rows = demo.results(f"{LIVE}/coursedate?$filter=StartDate {operator} '{cut}'")
        assert all(holds(r["StartDate"][:19]) for r in rows), operator
    assert demo.results(f"{LIVE}/coursedate?$filter=contains(CourseID,'FirAid')")
    fir = demo.results(f"{LIVE}/coursedate?$filter=startswith(CourseID,'Fir')")
    assert fir
    assert all(r["CourseID"].startswith("Fir") for r in fir)
    aid = demo.results(f"{LIVE}/coursedate?$filter=endswith(CourseID,'aid')")
    assert aid
    assert all(r["CourseID"].lower().endswith("aid") for r in aid)
    both = demo.results(
        f"{LIVE}/coursedate?$filter=StartDate gt '2025-01-01T10:00:00' and status eq 'Available'"
    )
    assert both
    assert all(r["Status"] == "Available" for r in both)
    either = demo.results(
        f"{LIVE}/coursedate?$filter=StartDate gt '2025-01-01T10:00:00' or status eq 'Available'"
    )
    assert len(either) >= len(both)

    newest_first = demo.results(f"{LIVE}/coursedate?$orderby=startdate desc")
    starts = [r["StartDate"] for r in newest_first]
    assert starts == sorted(starts, reverse=True)
    by_two = demo.results(f"{LIVE}/coursedate?$orderby=startdate desc,label asc")
    keys = [(r["StartDate"], r["Label"]) for r in by_two]
    assert keys == sorted(keys, key=lambda k: (_negate(k[0]), k[1]))

    selected = demo.results(f"{LIVE}/coursedate?$select=label,startdate,status,spacesleft")
    assert list(selected[0]) == ["Label", "StartDate", "Status", "SpacesLeft"]

    assert len(demo.results(f"{LIVE}/coursedate")) == 50
    assert len(demo.results(f"{LIVE}/coursedate?$top=20")) == 20
    counted = demo.get(f"{LIVE}/coursedate?$count=true").json()
    assert counted["pageIndex"] == 0
    assert counted["pageSize"] == 50
    assert counted["totalCount"] == 200
    page_two = demo.results(f"{LIVE}/coursedate?$skip=1")
    everything = demo.results(f"{LIVE}/coursedate?$top=100")
    assert page_two == everything[50:100]

    modules = demo.get("/accessplan/apihelp/v2/modules").json()["results"]
    assert {"coursedate", "user", "booking", "apikey"} <= {m["Name"] for m in modules}
    for path in (
        "/accessplan/apihelp/v2/modules/coursedate",
        "/accessplan/apihelp/v2/modules/courseDate",
        "/accessplan/modulesapihelp/v2/modules/coursedate",
    ):
        help_page = demo.get(path)
        assert help_page.status_code == 200, path
        fields = {f["Name"]: f for f in help_page.json()["results"]}
        assert fields["StartDate"]["Sortable"]
        assert fields["StartDate"]["Filterable"]
        assert fields["StartDate"]["DataType"] == "datetime"
        assert not fields["SpacesLeft"]["Writable"]
        assert fields["Label"]["Required"]
        assert fields["Label"]["MaxLength"] == 200


def _negate(text):
    return tuple(-ord(c) for c in text)


def test_sandbox_paths_serve_the_sandbox_with_its_own_key(demo):
    sandbox_key = demo.credentials.sandbox_api_key
    headers = {"Authorization": f"Bearer {sandbox_key}"}
    response = demo.client.get(f"{SANDBOX}/coursedate?$top=1&$count=true", headers=headers)
    assert response.status_code == 200
    assert response.json()["totalCount"] == 200
    wrong = demo.client.get(f"{LIVE}/coursedate", headers=headers)
    assert wrong.status_code == 401
    assert "sandbox" in wrong.json()["message"]
    assert demo.get(f"{SANDBOX}/coursedate").status_code == 401


def test_token_from_the_seed_example_reads_the_feeds(demo):
    params = {
        "grant_type": "password",
        "username": "admin",
        "password": demo.credentials.password,
    }
    response = demo.client.get(f"{LIVE}/token", params=params, headers={"Host": "demo.localhost"})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    rows = demo.client.get(
        f"{LIVE}/coursedate?$top=1", headers={"Authorization": f"Bearer {token}"}
    )
    assert rows.status_code == 200
    assert len(rows.json()["results"]) == 1


def test_names_are_case_insensitive_and_course_is_coursetemplate(demo):
    assert demo.results(f"{LIVE}/courseDate?$top=1") == demo.results(f"{LIVE}/COURSEDATE?$top=1")
    courses = demo.results(f"{LIVE}/course?$filter=courseid eq 'FirAid'")
    assert courses == demo.results(f"{LIVE}/coursetemplate?$filter=CourseID eq 'FirAid'")
    assert courses[0]["CourseID"] == "FirAid"
    response = demo.get(f"{LIVE}/nosuchmodule")
    assert response.status_code == 404
    assert "coursedate" in response.json()["message"]


def test_paging_walks_every_record_exactly_once_with_ties(demo):
    for order in ("", "&$orderby=Status", "&$orderby=CourseID desc,Status"):
        seen = []
        page = 0
        while True:
            rows = demo.results(
                f"{LIVE}/coursedate?$top=37&$skip={page}&$select=CourseDateID{order}"
            )
            if not rows:
                break
            seen.extend(r["CourseDateID"] for r in rows)
            page += 1
        assert len(seen) == 200, order
        assert len(set(seen)) == 200, order


def test_count_follows_the_filter_not_the_page(demo):
    body = demo.get(
        f"{LIVE}/coursedate?$filter=CourseID eq 'FirAid'&$top=2&$skip=1&$count=true"
    ).json()
    with demo.session() as session:
        expected = session.scalar(
            select(func.count(CourseDate.id)).where(CourseDate.course_template_id == 1)
        )
    assert body["totalCount"] == expected
    assert body["pageIndex"] == 1
    assert body["pageSize"] == 2
    assert len(body["results"]) == 2


@pytest.mark.parametrize(
    ("query", "option", "field"),
    [
        ("$filter=Nope eq 1", "$filter", "Nope"),
        ("$filter=IPWhitelist eq 'x'", None, None),
        ("$filter=Label eq 'unbalanced", "$filter", None),
        ("$filter=Label eq 'x' and", "$filter", None),
        ("$filter=Label like 'x'", "$filter", None),
        ("$filter=Capacity eq 'many'", "$filter", "Capacity"),
        ("$filter=StartDate gt 'soon'", "$filter", "StartDate"),
        ("$orderby=Nope desc", "$orderby", "Nope"),
        ("$select=Label,,Status", "$select", None),
        ("$top=-1", "$top", None),
        ("$top=ten", "$top", None),
        ("$top=1001", "$top", None),
        ("$skip=-2", "$skip", None),
        ("$count=yes", "$count", None),
        ("$expand=Bookings", "$expand", None),
    ],
)
def test_bad_queries_are_400_naming_the_option(demo, query, option, field):
    module = "apikey" if "IPWhitelist" in query else "coursedate"
    response = demo.get(f"{LIVE}/{module}?{query}")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_query"
    assert body["errors"]
    error = body["errors"][0]
    if option:
        assert error["option"] == option
    if field:
        assert error["field"] == field
    if "$filter" in query and option:
        assert isinstance(error.get("position"), int)


def test_oversized_filters_are_refused(demo):
    long_filter = " or ".join(f"Capacity eq {n}" for n in range(120))
    response = demo.get(f"{LIVE}/coursedate?$filter={long_filter}")
    assert response.status_code == 400
    wide = "Label eq '" + "x" * 2100 + "'"
    assert demo.get(f"{LIVE}/coursedate?$filter={wide}").status_code == 400


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    option=st.sampled_from(["$filter", "$orderby", "$select", "$top", "$skip", "$count"]),
    value=st.text(
        alphabet=st.sampled_from(list("()',% _abcdeqltgnoruSsDIFLC0123456789-.:T\\\"")),
        max_size=40,
    ),
)
def test_no_query_produces_a_500(demo, option, value):
    response = demo.get(f"{LIVE}/coursedate", params={option: value})
    assert response.status_code in (200, 400), (option, value, response.text)


# --- writing -------------------------------------------------------------------------------------


def _create_course_date(demo, **extra):
    body = {
        "CourseID": "FirAid",
        "Label": "First Aid, March",
        "StartDate": "2027-03-01T09:00:00",
        "EndDate": "2027-03-01T17:00:00",
        **extra,
    }
    response = demo.request("POST", f"{LIVE}/coursedate", json=body)
    assert response.status_code == 201, response.text
    return response


def test_post_put_delete_seed_flow_and_audit(demo):
    created = _create_course_date(demo, Capacity=2)
    new_id = created.json()["ID"]
    assert created.headers["Location"] == f"{LIVE}/coursedate/{new_id}"
    record = demo.get(f"{LIVE}/coursedate/{new_id}").json()
    assert record["CourseID"] == "FirAid"
    assert record["SpacesLeft"] == 2
    changed = demo.request(
        "PUT", f"{LIVE}/coursedate/{new_id}", json={"startdate": "2027-03-01T08:30:00"}
    )
    assert changed.status_code == 200
    assert changed.json()["StartDate"].startswith("2027-03-01T08:30:00")
    assert changed.json()["Label"] == "First Aid, March"
    assert demo.request("DELETE", f"{LIVE}/coursedate/{new_id}").status_code == 204
    assert demo.get(f"{LIVE}/coursedate/{new_id}").status_code == 404
    with demo.session() as session:
        actions = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.entity == "coursedate", AuditEvent.entity_id == str(new_id))
            .order_by(AuditEvent.id)
        ).all()
    assert actions == ["create", "update", "delete"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"Nope": 1}, "Nope", "unknown field"),
        ({"SpacesLeft": 3}, "SpacesLeft", "read-only"),
        ({"Capacity": "lots"}, "Capacity", "whole number"),
        ({"Label": "x" * 201}, "Label", "maximum is 200"),
        ({"Status": "Open"}, "Status", "Available"),
        ({"CourseID": "NoSuchCourse"}, "CourseID", "no coursetemplate"),
        ({"CourseTemplateID": 9999}, "CourseTemplateID", "no coursetemplate"),
        ({"StartDate": "tomorrow"}, "StartDate", "2025-01-01T10:00:00"),
    ],
)
def test_bad_writes_are_400_naming_the_field(demo, body, field, words):
    full = {
        "CourseID": "FirAid",
        "Label": "L",
        "StartDate": "2027-03-01T09:00:00",
        "EndDate": "2027-03-01T17:00:00",
    }
    with demo.session() as session:
        before = session.scalar(select(func.count(CourseDate.id)))
    response = demo.request("POST", f"{LIVE}/coursedate", json={**full, **body})
    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert any(e["field"] == field and words in e["message"] for e in errors), errors
    updated = demo.request("PUT", f"{LIVE}/coursedate/1", json=body)
    assert updated.status_code == 400
    with demo.session() as session:
        assert session.scalar(select(func.count(CourseDate.id))) == before


def test_missing_required_fields_are_all_named(demo):
    response = demo.request("POST", f"{LIVE}/coursedate", json={"Location": "Leeds"})
    assert response.status_code == 400
    named = {e["field"] for e in response.json()["errors"]}
    assert {"Label", "StartDate", "EndDate"} <= named
    for raw in (b"[1, 2]", b"not json", b""):
        bad = demo.request("POST", f"{LIVE}/coursedate", content=raw)
        assert bad.status_code == 400
        assert bad.json()["error"] == "invalid_body"


def test_spaces_left_never_go_below_zero(demo):
    new_id = _create_course_date(demo, Capacity=1).json()["ID"]
    first = demo.request("POST", f"{LIVE}/booking", json={"CourseDateID": new_id, "UserID": 5})
    assert first.status_code == 201
    second = demo.request("POST", f"{LIVE}/booking", json={"CourseDateID": new_id, "UserID": 6})
    assert second.status_code == 409
    assert "full" in second.json()["message"]
    assert demo.get(f"{LIVE}/coursedate/{new_id}").json()["SpacesLeft"] == 0
    shrink = demo.request("PUT", f"{LIVE}/coursedate/{new_id}", json={"Capacity": 0})
    assert shrink.status_code == 400
    assert shrink.json()["errors"][0]["field"] == "Capacity"
    held = demo.request("DELETE", f"{LIVE}/coursedate/{new_id}")
    assert held.status_code == 409
    assert "booking" in held.json()["message"]
    booking_id = first.json()["ID"]
    cancel = demo.request("PUT", f"{LIVE}/booking/{booking_id}", json={"Status": "cancelled"})
    assert cancel.status_code == 200
    assert cancel.json()["Status"] == "Cancelled"
    assert demo.get(f"{LIVE}/coursedate/{new_id}").json()["SpacesLeft"] == 1


def test_upsert_updates_one_creates_none_refuses_many(demo):
    url = f"{LIVE}/user?$upsert=Email eq 'john.smith@my_company.com'"
    created = demo.request("POST", url, json={"Username": "jsmith", "Forenames": "John"})
    assert created.status_code == 201, created.text
    user_id = created.json()["UserID"]
    updated = demo.request("POST", url, json={"Surname": "Smith"})
    assert updated.status_code == 200
    assert updated.json()["UserID"] == user_id
    assert updated.json()["FullName"] == "John Smith"
    assert updated.json()["Email"] == "john.smith@my_company.com"
    many = demo.request("POST", f"{LIVE}/user?$upsert=Role eq 'User'", json={"JobTitle": "x"})
    assert many.status_code == 400
    assert "more than one" in many.json()["message"]
    with demo.session() as session:
        assert session.scalar(select(func.count(User.id)).where(User.job_title == "x")) == 0
    bad = demo.request("POST", f"{LIVE}/user?$upsert=Email eq", json={})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["option"] == "$upsert"


def test_twenty_parallel_upserts_create_one_record(demo, app):
    key = demo.key_for("admin")
    url_path = f"{LIVE}/company?$upsert=Name eq 'Parallel Ltd'"
    answers = []
    with running_server(app) as base_url:
        barrier = threading.Barrier(20)

        def one() -> None:
            barrier.wait()
            with httpx.Client(base_url=base_url, timeout=60) as http:
                answers.append(
                    http.post(
                        url_path, json={"Phone": "01"}, headers={"Authorization": f"Bearer {key}"}
                    ).status_code
                )

        threads = [threading.Thread(target=one) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(answers) == [200] * 19 + [201]
    assert len(demo.results(f"{LIVE}/company?$filter=Name eq 'Parallel Ltd'")) == 1


def test_user_delete_marks_deleted_then_removes(demo):
    user_id = demo.request(
        "POST", f"{LIVE}/user", json={"Username": "temp", "Email": "temp@demo.example"}
    ).json()["ID"]
    first = demo.request("DELETE", f"{LIVE}/user/{user_id}")
    assert first.status_code == 200
    assert first.json()["Status"] == "Deleted"
    assert demo.request("DELETE", f"{LIVE}/user/{user_id}").status_code == 204
    assert demo.get(f"{LIVE}/user/{user_id}").status_code == 404
    assert demo.request("DELETE", f"{LIVE}/user/{user_id}").status_code == 404


def test_plan_items_with_children_are_not_deleted(demo):
    with demo.session() as session:
        parent = session.scalar(
            select(PlanItem.parent_id).where(PlanItem.parent_id.is_not(None)).limit(1)
        )
    response = demo.request("DELETE", f"{LIVE}/planitem/{parent}")
    assert response.status_code == 409
    assert "child items" in response.json()["message"]


def test_plan_item_create_sets_sequence_and_progress_update_moves_it(demo):
    plan_id = demo.results(f"{LIVE}/plan")[0]["PlanID"]
    root = demo.results(f"{LIVE}/planitem?$filter=PlanID eq {plan_id} and ParentID eq null")
    parent = root[0]
    created = demo.request(
        "POST",
        f"{LIVE}/planitem",
        json={"PlanID": plan_id, "ParentID": parent["PlanItemID"], "Name": "New action"},
    )
    assert created.status_code == 201, created.text
    item = demo.get(f"{LIVE}/planitem/{created.json()['ID']}").json()
    assert item["SequenceID"].startswith(parent["SequenceID"] + ".")
    assert item["Status"] == "Not Started"
    assert len(item["ExternalID"]) == 36
    update = demo.request(
        "POST",
        f"{LIVE}/progressupdate",
        json={"PlanItemID": item["PlanItemID"], "Status": "on track", "AsOfDate": "2026-11-20"},
    )
    assert update.status_code == 201, update.text
    moved = demo.get(f"{LIVE}/planitem/{item['PlanItemID']}").json()
    assert moved["Status"] == "On Track"
    assert moved["Updates"] == 1
    history = demo.request("PUT", f"{LIVE}/progressupdate/{update.json()['ID']}", json={})
    assert history.status_code == 405
    bad = demo.request(
        "POST",
        f"{LIVE}/progressupdate",
        json={"PlanItemID": item["PlanItemID"], "Status": "On Trak", "AsOfDate": "2026-11-20"},
    )
    assert bad.status_code == 400
    assert "On Track" in bad.json()["errors"][0]["message"]


# --- access --------------------------------------------------------------------------------------


def test_roles_decide_modules_and_plans_decide_items(demo):
    with demo.session() as session, session.begin():
        create_user(
            session,
            system_principal(demo.organisation_id, "demo", Environment.LIVE),
            login="carol",
            email="carol@demo.example",
            role=Role.USER,
        )
    # API keys: SuperAdmin only.
    assert demo.get(f"{LIVE}/apikey", login="manager").status_code == 403
    assert demo.get(f"{LIVE}/apikey", login="bob").status_code == 403
    made = demo.request("POST", f"{LIVE}/apikey", login="manager", json={"Label": "x", "UserID": 1})
    assert made.status_code == 403
    modules = {
        m["Name"] for m in demo.get("/accessplan/apihelp/v2/modules", login="bob").json()["results"]
    }
    assert "apikey" not in modules
    assert "coursedate" in modules
    # Users see only themselves; training is read-only for them.
    assert [u["Username"] for u in demo.results(f"{LIVE}/user", login="bob")] == ["bob"]
    assert (
        demo.request("POST", f"{LIVE}/company", login="bob", json={"Name": "x"}).status_code == 403
    )
    # Plan items: bob views the demo plan but may not edit it; carol sees nothing of it.
    items = demo.results(f"{LIVE}/planitem?$top=5", login="bob")
    assert items
    item_id = items[0]["PlanItemID"]
    edit = demo.request("PUT", f"{LIVE}/planitem/{item_id}", login="bob", json={"Name": "x"})
    assert edit.status_code == 403
    assert demo.results(f"{LIVE}/planitem", login="carol") == []
    assert demo.get(f"{LIVE}/planitem/{item_id}", login="carol").status_code == 404
    hidden = demo.request("PUT", f"{LIVE}/planitem/{item_id}", login="carol", json={"Name": "x"})
    assert hidden.status_code == 404
    # alice administers the plan through her team.
    ok = demo.request("PUT", f"{LIVE}/planitem/{item_id}", login="alice", json={"Name": "Renamed"})
    assert ok.status_code == 200
    assert ok.json()["Name"] == "Renamed"


def test_api_keys_are_shown_once_and_disabling_revokes(demo):
    created = demo.request(
        "POST",
        f"{LIVE}/apikey",
        json={"Label": "Finance System - Xero", "UserID": 1, "ExpirationDate": "2099-01-01"},
    )
    assert created.status_code == 201, created.text
    key = created.json()["ApiKey"]
    key_id = created.json()["ID"]
    listed = demo.get(f"{LIVE}/apikey/{key_id}").json()
    assert key not in str(listed)
    assert key.startswith(listed["Prefix"])
    headers = {"Authorization": f"Bearer {key}"}
    assert demo.client.get(f"{LIVE}/coursedate?$top=1", headers=headers).status_code == 200
    api_key_header = {"Authorization": f"API-KEY {key}"}
    assert demo.client.get(f"{LIVE}/coursedate?$top=1", headers=api_key_header).status_code == 200
    assert (
        demo.request("PUT", f"{LIVE}/apikey/{key_id}", json={"Enabled": False}).status_code == 200
    )
    refused = demo.client.get(f"{LIVE}/coursedate?$top=1", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"] == "key_disabled"
    bad = demo.request(
        "POST", f"{LIVE}/apikey", json={"Label": "x", "UserID": 1, "IPWhitelist": "not-an-ip"}
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "IPWhitelist"


def test_custom_fields_are_queryable_and_writable(demo):
    with demo.session() as session, session.begin():
        session.add_all(
            [
                CustomFieldDefinition(
                    module="coursedate",
                    name="CF_Region",
                    data_type="string",
                    label="Region",
                    max_length=20,
                ),
                CustomFieldDefinition(
                    module="coursedate", name="CF_Audited", data_type="datetime", label="Audited at"
                ),
            ]
        )
    new_id = _create_course_date(demo, cf_region="North", CF_Audited="2026-05-01T10:00:00").json()[
        "ID"
    ]
    rows = demo.results(
        f"{LIVE}/coursedate?$filter=CF_Region eq 'North'&$select=CourseDateID,CF_Region"
    )
    assert rows == [{"CourseDateID": new_id, "CF_Region": "North"}]
    later = demo.results(
        f"{LIVE}/coursedate?$filter=cf_audited gt '2026-01-01T00:00:00'&$select=CourseDateID"
    )
    assert later == [{"CourseDateID": new_id}]
    too_long = demo.request("PUT", f"{LIVE}/coursedate/{new_id}", json={"CF_Region": "x" * 21})
    assert too_long.status_code == 400
    assert too_long.json()["errors"][0]["field"] == "CF_Region"
    fields = demo.get("/accessplan/apihelp/v2/modules/coursedate").json()["results"]
    assert any(f["Name"] == "CF_Region" and f["Custom"] for f in fields)
    when = dt.datetime(2026, 5, 1, 10, tzinfo=dt.UTC).isoformat()
    assert demo.get(f"{LIVE}/coursedate/{new_id}").json()["CF_Audited"] == when
