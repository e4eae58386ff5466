"""The batch API end to end through the ASGI app and a real worker loop, on both databases."""

import datetime as dt
import logging

import pytest
from sqlalchemy import event, func, insert, select

from planfeed.accounts.models import Role, Team, User
from planfeed.db.base import Environment
from planfeed.jobs.models import Job
from planfeed.jobs.worker import Worker
from planfeed.plans.history import metric_history, metric_series
from planfeed.plans.models import (
    ITEMS,
    Checklist,
    ChecklistEntry,
    MetricGoal,
    MetricUpdate,
    Plan,
    PlanAccess,
    PlanItem,
    PlanItemAccess,
    PlanItemTag,
    PlanLevel,
    ProgressUpdate,
    Tag,
    insert_item_rows,
)
from planfeed.plans.sequence import parent_sequence, sequence_key


def make_plan(
    tenant,
    environment=Environment.LIVE,
    items=(("1", False), ("1.1", True), ("1.2", False), ("1.10", True)),
):
    with tenant.session(environment) as session, session.begin():
        plan = Plan(name="Plan")
        plan.levels = [PlanLevel(depth=1, name="Goal"), PlanLevel(depth=2, name="Step")]
        session.add(plan)
        session.flush()
        by_sequence = {}
        for sequence, has_metric in items:
            parent = by_sequence.get(parent_sequence(sequence))
            by_sequence[sequence] = row = PlanItem(
                parent_id=parent.id if parent else None,
                plan_id=plan.id,
                sequence_id=sequence,
                sequence_key=sequence_key(sequence),
                external_id=f"EXT-{sequence}",
                name=f"Item {sequence}",
                has_metric=has_metric,
                level_id=plan.levels[sequence.count(".")].id,
                current_value=1.0 if has_metric else None,
            )
            session.add(row)
            session.flush()
        return plan.public_id, plan.id


@pytest.fixture
def acme(make_tenant):
    tenant = make_tenant("acme")
    tenant.user("root", Role.SUPER_ADMIN)
    tenant.user("root", Role.SUPER_ADMIN, Environment.SANDBOX)
    tenant.plan_id, tenant.plan_pk = make_plan(tenant)
    tenant.live_key = tenant.key("root")
    tenant.sandbox_key = tenant.key("root", Environment.SANDBOX)
    return tenant


@pytest.fixture
def worker(db):
    return Worker(db.engine, worker_id="test-worker")


def auth(key):
    return {"Authorization": f"API-KEY {key}"}


def submit(client, key, body, endpoint="progressupdates", name="my_updates", **kwargs):
    headers = {**auth(key), **kwargs.pop("headers", {})}
    return client.post(f"/api/{endpoint}/{name}", content=body, headers=headers, **kwargs)


def item(tenant, external_id, environment=Environment.LIVE):
    with tenant.session(environment) as session:
        return session.scalar(select(PlanItem).where(PlanItem.external_id == external_id))


def history_count(tenant, model=ProgressUpdate, environment=Environment.LIVE):
    with tenant.session(environment) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_seed_example_flow(client, acme, worker):
    body = b"EXT-1.1,Off Track,0.25,11/02/2025,Slipping\nEXT-1,On Track,,2025-11-01\n"
    response = submit(
        client, acme.live_key, body, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status_code == 200
    job_id = response.json()["jobId"]
    status_url = f"/api/progressupdates/status/{job_id}"
    queued = client.get(status_url, headers=auth(acme.live_key))
    assert queued.status_code == 202
    assert queued.json()["state"] == "queued"
    assert client.head(status_url, headers=auth(acme.live_key)).status_code == 202
    assert history_count(acme) == 0  # queued, not applied inside the request
    assert worker.run_once()
    done = client.get(status_url, headers=auth(acme.live_key))
    assert done.status_code == 200
    assert done.json()["totalRows"] == 2
    assert done.json()["appliedRows"] == 2
    assert client.head(status_url, headers=auth(acme.live_key)).status_code == 200
    updated = item(acme, "EXT-1.1")
    assert updated.status == 3
    assert updated.current_value == 0.25
    assert updated.last_update_on == dt.date(2025, 11, 2)
    assert updated.last_update_comment == "Slipping"
    assert updated.updates_count == 1
    with acme.session() as session:
        root_id = session.scalar(select(User.id).where(User.login == "root"))
        row = session.scalar(select(ProgressUpdate).where(ProgressUpdate.item_id == updated.id))
    assert (row.author_id, row.source, row.job_id) == (root_id, "job", job_id)
    assert updated.last_progress_user_id == root_id
    # the same content again is a new job, applied again
    again = submit(client, acme.live_key, body).json()["jobId"]
    assert again != job_id
    assert worker.run_once()
    assert item(acme, "EXT-1.1").updates_count == 2


def test_multipart_and_json_bodies(client, acme, worker):
    files = {"file": ("u.csv", b"EXT-1,At Risk,,2025-01-01\n", "text/csv")}
    multipart = client.post("/api/progressupdates/u.csv", files=files, headers=auth(acme.live_key))
    assert multipart.status_code == 200
    as_json = client.post(
        "/api/metricupdates/m",
        headers=auth(acme.live_key),
        json=[{"externalId": "EXT-1.10", "metricValue": 7, "asOfDate": "2025-02-01"}],
    )
    assert as_json.status_code == 200
    assert worker.run_once()
    assert worker.run_once()
    assert item(acme, "EXT-1").status == 2
    assert item(acme, "EXT-1.10").current_value == 7
    assert history_count(acme, MetricUpdate) == 1
    metric_status = client.get(
        f"/api/metricupdates/status/{as_json.json()['jobId']}", headers=auth(acme.live_key)
    )
    assert metric_status.status_code == 200
    wrong_endpoint = client.get(
        f"/api/progressupdates/status/{as_json.json()['jobId']}", headers=auth(acme.live_key)
    )
    assert wrong_endpoint.status_code == 404


def test_rejected_file_applies_nothing_and_names_every_row(client, acme, worker):
    body = (
        b"External ID,Status,Current Metric Value,As Of Date\n"
        b"EXT-1,On Track,,2025-01-01\n"
        b"EXT-1.1,On Track,,2025-01-01\n"
        b"NOPE,On Track,,2025-01-01\n"
        b"EXT-1.2,Sideways,,2025-01-01\n"
    )
    job_id = submit(client, acme.live_key, body).json()["jobId"]
    assert worker.run_once()
    status = client.get(f"/api/progressupdates/status/{job_id}", headers=auth(acme.live_key))
    assert status.status_code == 400
    errors = status.json()["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [
        (3, "Current Metric Value"),
        (4, "External ID"),
        (5, "Status"),
    ]
    assert status.json()["appliedRows"] == 0
    assert history_count(acme) == 0
    assert item(acme, "EXT-1").status == 0


def test_external_ids_of_other_scopes_are_unknown(client, acme, worker, make_tenant):
    other = make_tenant("globex")
    make_plan(other, items=(("1", False),))  # EXT-1 in globex live
    with acme.session(Environment.SANDBOX) as session, session.begin():
        plan = Plan(name="Sandbox plan")
        session.add(plan)
        session.flush()
        session.add(
            PlanItem(
                plan_id=plan.id,
                sequence_id="9",
                sequence_key=sequence_key("9"),
                external_id="SANDBOX-ONLY",
                name="s",
            )
        )
    job_id = submit(client, acme.live_key, b"SANDBOX-ONLY,On Track,,2025-01-01\n").json()["jobId"]
    assert worker.run_once()
    status = client.get(f"/api/progressupdates/status/{job_id}", headers=auth(acme.live_key))
    assert status.status_code == 400
    assert "no plan item has this External ID" in status.json()["errors"][0]["message"]
    # and a job is invisible from the other environment and the other organisation
    assert (
        client.get(
            f"/api/progressupdates/status/{job_id}", headers=auth(acme.sandbox_key)
        ).status_code
        == 404
    )
    other.user("boss", Role.SUPER_ADMIN)
    assert (
        client.get(
            f"/api/progressupdates/status/{job_id}", headers=auth(other.key("boss"))
        ).status_code
        == 404
    )
    assert (
        client.get("/api/progressupdates/status/not-a-job", headers=auth(acme.live_key)).status_code
        == 404
    )


def test_dry_run_queues_nothing(client, acme, db):
    good = submit(client, acme.live_key, b"EXT-1,On Track,,2025-01-01\n", params={"dryRun": "true"})
    assert good.status_code == 200
    assert good.json()["valid"] is True
    assert good.json()["validRows"] == 1
    bad = submit(
        client, acme.live_key, b"EXT-1.1,On Track,,2025-01-01\n", params={"dryRun": "true"}
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["column"] == "Current Metric Value"
    with acme.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_a_comment_with_a_nul_character_is_rejected_whole(client, acme, worker):
    """400 on a dry run naming row and column; a queued file is rejected and applies nothing.
    (A NUL in the first 8 KiB makes the whole body count as binary; this one comes later.)"""
    body = b"EXT-1,On Track,,2025-01-01,fine\n" * 400 + b"EXT-1.2,On Track,,2025-01-01,a\x00b\n"
    dry = submit(client, acme.live_key, body, params={"dryRun": "true"})
    assert dry.status_code == 400
    (error,) = dry.json()["errors"]
    assert (error["row"], error["column"], error["value"]) == (401, "Comment", "a\\0b")
    assert "NUL character" in error["message"]
    job_id = submit(client, acme.live_key, body).json()["jobId"]
    assert worker.run_once()
    status = client.get(f"/api/progressupdates/status/{job_id}", headers=auth(acme.live_key))
    assert status.status_code == 400
    assert "NUL character" in status.json()["errors"][0]["message"]
    assert history_count(acme) == 0


def test_idempotency_key(client, acme):
    headers = {**auth(acme.live_key), "Idempotency-Key": "retry-1"}
    first = client.post(
        "/api/progressupdates/f", content=b"EXT-1,On Track,,2025-01-01\n", headers=headers
    )
    second = client.post(
        "/api/progressupdates/f", content=b"EXT-1,On Track,,2025-01-01\n", headers=headers
    )
    assert first.json()["jobId"] == second.json()["jobId"]
    conflict = client.post(
        "/api/progressupdates/f", content=b"EXT-1,At Risk,,2025-01-01\n", headers=headers
    )
    assert conflict.status_code == 422
    assert "Idempotency-Key" in conflict.json()["message"]
    with acme.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1


def test_body_limit(db, tmp_path, acme):
    from fastapi.testclient import TestClient

    from planfeed.config import Settings
    from planfeed.http.app import create_app
    from support import TEST_SECRET

    app = create_app(
        Settings(
            database_url=db.url,
            data_dir=tmp_path,
            secret_key=TEST_SECRET,
            run_worker=False,
            max_body_bytes=100,
        ),
        engine=db.engine,
    )
    with TestClient(app) as client:
        response = submit(client, acme.live_key, b"x" * 101)
    assert response.status_code == 413
    assert "100 bytes" in response.json()["message"]


def test_out_of_order_dates_keep_history_but_not_current(client, acme, worker):
    submit(client, acme.live_key, b"EXT-1.1,Achieved,9,2025-03-01\n")
    assert worker.run_once()
    submit(client, acme.live_key, b"EXT-1.1,Off Track,2,2025-01-01\n")
    assert worker.run_once()
    current = item(acme, "EXT-1.1")
    assert (current.status, current.current_value) == (4, 9)
    assert current.last_update_on == dt.date(2025, 3, 1)
    assert current.updates_count == 2
    assert history_count(acme) == 2


def test_several_rows_for_one_item_in_a_file(client, acme, worker):
    """Per item the latest As Of Date wins, the later row on a tie; every row counts."""
    body = (
        b"EXT-1.1,On Track,5,2025-02-01,second\n"
        b"EXT-1.1,Off Track,7,2025-03-01,latest\n"
        b"EXT-1.1,At Risk,6,2025-01-01,oldest\n"
        b"EXT-1.10,Achieved,3,2025-04-01,first of a tie\n"
        b"EXT-1.10,Canceled,4,2025-04-01,last of a tie\n"
    )
    submit(client, acme.live_key, body)
    assert worker.run_once()
    first, second = item(acme, "EXT-1.1"), item(acme, "EXT-1.10")
    assert (first.status, first.current_value, first.last_update_comment) == (3, 7, "latest")
    assert (first.last_update_on, first.updates_count) == (dt.date(2025, 3, 1), 3)
    assert (second.status, second.current_value, second.updates_count) == (6, 4, 2)
    assert second.last_update_comment == "last of a tie"
    assert history_count(acme) == 5
    assert history_count(acme, MetricUpdate) == 0  # progress rows are the metric history


@pytest.mark.parametrize("repeated", [False, True], ids=["each-item-once", "item-repeated"])
def test_values_and_comments_are_stored_exactly(client, acme, worker, repeated):
    """Numbers keep every bit and comments every character, whatever the bulk path (on SQLite a
    file naming an item twice takes another one)."""
    earlier = b"EXT-1.1,Off Track,1,2025-01-01,older\n" if repeated else b""
    body = (
        earlier
        + (
            'EXT-1.1,On Track,0.30000000000000004,2025-02-01,"say ""hi"", \\ ünïcode ✓\nline 2"\n'
            "EXT-1.10,On Track,123456789.12345679,2025-02-01,\n"
            "EXT-1.2,On Track,1e-07,2025-02-01,\n"
        ).encode()
    )
    submit(client, acme.live_key, body)
    assert worker.run_once()
    first = item(acme, "EXT-1.1")
    assert first.current_value == 0.30000000000000004
    assert first.last_update_comment == 'say "hi", \\ ünïcode ✓\nline 2'
    assert item(acme, "EXT-1.10").current_value == 123456789.12345679
    assert item(acme, "EXT-1.2").current_value is None  # no metric: the value is history only
    with acme.session() as session:
        stored = set(session.scalars(select(ProgressUpdate.value)))
    assert stored == {0.30000000000000004, 123456789.12345679, 1e-07} | (
        {1.0} if repeated else set()
    )


@pytest.mark.parametrize("repeated", [False, True], ids=["each-item-once", "item-repeated"])
def test_sqlite_item_update_never_scans_the_items(client, acme, worker, db, repeated):
    """On SQLite the bulk update reaches each item by key, or by the scope's index from the
    temporary summary: a scan of every tenant's items would make a small file slow."""
    if db.backend != "sqlite":
        pytest.skip("SQLite's query plan")
    updates = []

    def capture(connection, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE PLAN_ITEM_PROGRESS"):
            updates.append((statement, parameters))

    body = b"EXT-1.1,On Track,5,2025-02-01\n" + (b"EXT-1.1,On Track,6,2025-01-01\n" * repeated)
    submit(client, acme.live_key, body)
    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        assert worker.run_once()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert item(acme, "EXT-1.1").current_value == 5
    assert len(updates) == 1
    with db.engine.connect() as connection:
        if repeated:  # the summary table lives as long as the job: make one to plan against
            connection.exec_driver_sql(
                "CREATE TEMPORARY TABLE planfeed_job_latest "
                "(item_id INTEGER PRIMARY KEY, rows INTEGER, status, value, as_of, comment)"
            )
        statement, parameters = updates[0]
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    details = [row[-1] for row in plan]
    assert not any(detail.startswith("SCAN plan_item") for detail in details), details
    assert any("plan_item_progress" in detail for detail in details), details


def test_several_rows_for_one_item_in_a_metric_file(client, acme, worker):
    """As for progress: the latest As Of Date wins, the later row on a tie."""
    body = (
        b"EXT-1.1,5,2025-02-01\nEXT-1.1,9,2025-01-01\n"
        b"EXT-1.10,3,2025-04-01\nEXT-1.10,4,2025-04-01\n"
    )
    submit(client, acme.live_key, body, endpoint="metricupdates")
    assert worker.run_once()
    first, second = item(acme, "EXT-1.1"), item(acme, "EXT-1.10")
    assert (first.current_value, first.last_metric_on) == (5, dt.date(2025, 2, 1))
    assert (second.current_value, second.last_metric_on) == (4, dt.date(2025, 4, 1))
    assert history_count(acme, MetricUpdate) == 4


def test_a_metric_file_naming_an_item_without_a_metric_is_rejected(client, acme, worker):
    """Nothing of the file is applied: not the row for the metric item either."""
    body = b"EXT-1.1,5,2025-02-01\nEXT-1.2,7,2025-02-01\n"  # 1.2 has no metric
    dry = client.post(
        "/api/metricupdates/m.csv?dryRun=true", content=body, headers=auth(acme.live_key)
    )
    assert dry.status_code == 400
    [error] = dry.json()["errors"]
    assert (error["row"], error["column"], error["value"]) == (2, "External ID", "EXT-1.2")
    assert "has no metric" in error["message"]
    job_id = submit(client, acme.live_key, body, endpoint="metricupdates").json()["jobId"]
    assert worker.run_once()
    status = client.get(f"/api/metricupdates/status/{job_id}", headers=auth(acme.live_key))
    assert status.status_code == 400
    assert item(acme, "EXT-1.2").current_value is None
    assert item(acme, "EXT-1.1").current_value == 1.0
    assert history_count(acme, MetricUpdate) == 0


def test_metric_history_joins_progress_and_metric_files(client, acme, worker):
    submit(client, acme.live_key, b"EXT-1.1,On Track,5,2025-01-01\nEXT-1,On Track,,2025-01-15\n")
    assert worker.run_once()
    submit(client, acme.live_key, b"EXT-1.1,8,2025-02-01\n", endpoint="metricupdates")
    assert worker.run_once()
    submit(client, acme.live_key, b"EXT-1.1,2,2024-12-01\n", endpoint="metricupdates")
    assert worker.run_once()
    current = item(acme, "EXT-1.1")
    assert (current.current_value, current.last_metric_on) == (8, dt.date(2025, 2, 1))
    with acme.session() as session:
        points = metric_history(session, current.id)
    assert [(p.as_of, p.value, p.kind) for p in points] == [
        (dt.date(2025, 2, 1), 8, "metric"),
        (dt.date(2025, 1, 1), 5, "progress"),
        (dt.date(2024, 12, 1), 2, "metric"),
    ]
    assert metric_series(points) == [
        (dt.date(2024, 12, 1), 2),
        (dt.date(2025, 1, 1), 5),
        (dt.date(2025, 2, 1), 8),
    ]


def test_unauthenticated_submit_is_401(client, acme):
    assert submit(client, "nope", b"x").status_code == 401
    assert client.post("/api/progressupdates/x", content=b"x").status_code == 401


def test_the_worker_logs_each_job_with_its_phase_times(client, acme, worker, caplog):
    """One line per job for the operator: its state, rows and where the time went."""
    caplog.set_level(logging.INFO, logger="planfeed.worker")
    job_id = submit(client, acme.live_key, b"EXT-1,On Track,,2025-01-01\n").json()["jobId"]
    assert worker.run_once()
    submit(client, acme.live_key, b"EXT-nope,On Track,,2025-01-01\n")
    assert worker.run_once()
    applied, rejected = (r.getMessage() for r in caplog.records if r.name == "planfeed.worker")
    assert applied.startswith(f"job {job_id} applied: 1 rows in ")
    for phase in ("read", "parse", "validate", "apply", "commit"):
        assert f"{phase} " in applied
    assert " rejected: 1 rows in " in rejected
    assert "apply" not in rejected


def test_server_failure_retries_then_500(client, acme, worker, monkeypatch, db):
    import planfeed.jobs.worker as worker_module

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(worker_module, "apply", broken)
    job_id = submit(client, acme.live_key, b"EXT-1,On Track,,2025-01-01\n").json()["jobId"]
    with db.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE jobs SET max_attempts = 2")
    assert worker.run_once()
    assert (
        client.get(f"/api/progressupdates/status/{job_id}", headers=auth(acme.live_key)).status_code
        == 202
    )
    with db.engine.begin() as connection:  # skip the backoff wait
        connection.exec_driver_sql("UPDATE jobs SET run_after = '2000-01-01'")
    assert worker.run_once()
    failed = client.get(f"/api/progressupdates/status/{job_id}", headers=auth(acme.live_key))
    assert failed.status_code == 500
    assert failed.json()["state"] == "failed"
    assert history_count(acme) == 0


def test_an_item_without_its_progress_row_fails_the_job_whole(client, acme, worker, db):
    """An item written past the ORM without its progress row cannot be moved: the job fails
    (to be retried) and applies nothing, not even the rows of the other items."""
    with db.engine.begin() as connection:
        connection.execute(
            insert(ITEMS).values(
                organisation_id=acme.organisation_id,
                environment=Environment.LIVE.value,
                public_id="00000000-0000-4000-8000-00000000beef",
                plan_id=acme.plan_pk,
                sequence_id="9",
                sequence_key=sequence_key("9"),
                external_id="EXT-9",
                name="Item 9",
            )
        )
    body = b"EXT-1,Achieved,,2025-01-01\nEXT-9,Achieved,,2025-01-01\n"
    job_id = submit(client, acme.live_key, body).json()["jobId"]
    assert worker.run_once()
    status = client.get(f"/api/progressupdates/status/{job_id}", headers=auth(acme.live_key))
    assert status.status_code == 202  # back in the queue, to be retried
    with db.engine.connect() as connection:
        error = connection.execute(select(Job.last_error).where(Job.id == job_id)).scalar_one()
    assert "1 of the file's 2 items have no progress row" in error
    assert history_count(acme) == 0
    assert item(acme, "EXT-1").status == 0


def test_in_process_worker_applies_without_help(db, tmp_path, acme):
    import time

    from fastapi.testclient import TestClient

    from planfeed.config import Settings
    from planfeed.http.app import create_app
    from support import TEST_SECRET

    app = create_app(
        Settings(database_url=db.url, data_dir=tmp_path, secret_key=TEST_SECRET, run_worker=True),
        engine=db.engine,
    )
    with TestClient(app) as client:
        job_id = submit(client, acme.live_key, b"EXT-1,At Risk,,2025-01-01\n").json()["jobId"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            code = client.get(
                f"/api/progressupdates/status/{job_id}", headers=auth(acme.live_key)
            ).status_code
            if code != 202:
                break
            time.sleep(0.1)
    assert code == 200


# --- exports (seed 003) ---------------------------------------------------------------------


def export(client, tenant, plan_id=None, key=None, **params):
    return client.get(
        f"/exports/plans/{plan_id or tenant.plan_id}",
        params=params,
        headers=auth(key or tenant.live_key),
    )


def test_export_shape_and_numeric_sequence_order(client, acme):
    body = export(client, acme).json()
    assert body["totalCount"] == 4
    assert [i["sequenceId"] for i in body["items"]] == ["1", "1.1", "1.2", "1.10"]
    first = body["items"][1]
    for key in (
        "id",
        "sourceId",
        "rowNumber",
        "sequenceId",
        "planId",
        "planName",
        "alignsTo",
        "alignsToId",
        "levelId",
        "level",
        "indentedName",
        "status",
        "statusName",
        "hasMetric",
        "baseline",
        "target",
        "currentValue",
        "advancedMetricGoals",
        "members",
        "admins",
        "updateFrequency",
        "isPastDue",
        "lateUpdates",
        "pendingUpdates",
        "updates",
        "files",
        "checklists",
        "tags",
        "isOrphan",
    ):
        assert key in first
    assert first["alignsTo"] == "Item 1"
    assert first["level"] == "Step"
    assert first["rowNumber"] == 2
    assert first["statusName"] == "Not Started"
    assert first["currentValue"] == "1"


def test_export_paging_is_stable_and_complete(client, acme):
    seen = []
    for skip in range(0, 4, 3):
        page = export(client, acme, skip=skip, take=3, sortKey="name", sortDirection="desc")
        seen += [i["id"] for i in page.json()["items"]]
    assert len(seen) == len(set(seen)) == 4
    same = export(client, acme, sortKey="planName").json()["items"]  # all ties
    assert len({i["id"] for i in same}) == 4


def test_export_row_numbers_are_tree_order_in_every_sort_and_page(client, acme):
    tree = {"1": 1, "1.1": 2, "1.2": 3, "1.10": 4}
    for params in (
        {},
        {"sortDirection": "desc"},
        {"sortKey": "name"},
        {"sortKey": "name", "sortDirection": "desc"},
        {"sortKey": "alignsTo"},
    ):
        for skip in (0, 1, 3):
            items = export(client, acme, skip=skip, take=2, **params).json()["items"]
            assert items, (params, skip)
            assert [i["rowNumber"] for i in items] == [tree[i["sequenceId"]] for i in items]
    descending = export(client, acme, sortDirection="desc").json()["items"]
    assert [i["sequenceId"] for i in descending] == ["1.10", "1.2", "1.1", "1"]
    assert export(client, acme, skip=4).json() == {"items": [], "totalCount": 4}


def test_export_item_wire_format_in_full(client, acme):
    """Every field of a fully populated item, exactly: the export's answer is a contract."""
    acme.user("member")
    today = dt.date.today()
    with acme.session() as session, session.begin():
        root = session.scalar(select(User).where(User.login == "root"))
        member = session.scalar(select(User).where(User.login == "member"))
        root.forenames, root.surname = "Ada", "Root"
        member.forenames, member.surname = "Bo", "Member"
        team = Team(name="Ops")
        tags = [Tag(name="zeta"), Tag(name="alpha")]
        session.add_all([team, *tags])
        item = session.scalar(select(PlanItem).where(PlanItem.external_id == "EXT-1.1"))
        other = session.scalar(select(PlanItem).where(PlanItem.external_id == "EXT-1.2"))
        item.description = "Grow «fast»"
        item.status = 2
        item.start_date = dt.date(2024, 1, 31)
        item.due_date = dt.date(2000, 2, 29)
        item.created_at = dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
        item.has_metric, item.units, item.detail = True, 1, 0
        item.baseline, item.target, item.current_value = 2.5, 100.0, 1 / 3
        item.assigned_to_id, item.assigned_by_id = member.id, root.id
        item.dependent_on_id = other.id
        item.update_frequency, item.grace_days = "Daily", 2
        item.last_update_on = today - dt.timedelta(days=10)
        item.updates_count, item.files_count = 7, 3
        item.last_comment_id, item.last_comment = 41, "looks good"
        item.last_update_comment_id, item.last_update_comment = 42, "on it"
        session.flush()
        item.updated_at = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
        session.add_all(
            [
                MetricGoal(
                    item_id=item.id,
                    name="Stretch",
                    color="#0f0",
                    bucket_value=90.0,
                    sort_order=2,
                    public_id="goal-2",
                ),
                MetricGoal(
                    item_id=item.id,
                    name="Floor",
                    color="#f00",
                    bucket_value=12.5,
                    sort_order=1,
                    public_id="goal-1",
                ),
                PlanItemAccess(item_id=item.id, user_id=member.id, is_admin=False),
                PlanItemAccess(item_id=item.id, team_id=team.id, is_admin=False),
                PlanItemAccess(item_id=item.id, user_id=root.id, is_admin=True),
                PlanItemTag(item_id=item.id, tag_id=tags[0].id),
                PlanItemTag(item_id=item.id, tag_id=tags[1].id),
            ]
        )
        checklist = Checklist(item_id=item.id, name="Launch", sort_index=1, public_id="list-1")
        first = Checklist(item_id=item.id, name="Prepare", sort_index=0, public_id="list-0")
        session.add_all([checklist, first])
        session.flush()
        session.add_all(
            [
                ChecklistEntry(
                    checklist_id=checklist.id, name="Ship", sort_index=2, public_id="entry-2"
                ),
                ChecklistEntry(
                    checklist_id=checklist.id,
                    name="Test",
                    sort_index=1,
                    public_id="entry-1",
                    done_on=dt.date(2025, 5, 4),
                ),
            ]
        )
        session.flush()
        ids = {
            "item": item.public_id,
            "other": other.public_id,
            "parent": session.scalar(
                select(PlanItem.public_id).where(PlanItem.external_id == "EXT-1")
            ),
            "level": session.scalar(select(PlanLevel.public_id).where(PlanLevel.name == "Step")),
            "root": str(root.id),
            "member": str(member.id),
            "team": str(team.id),
            "alpha": tags[1].public_id,
            "zeta": tags[0].public_id,
            "organisation": str(acme.organisation_id),
        }
    body = export(client, acme, skip=1, take=1).json()
    assert body["totalCount"] == 4
    assert body["items"] == [
        {
            "id": ids["item"],
            "sourceId": ids["item"],
            "rowNumber": 2,
            "sequenceId": "1.1",
            "planId": acme.plan_id,
            "planName": "Plan",
            "sourcePlanId": None,
            "sourcePlanName": None,
            "alignsTo": "Item 1",
            "alignsToId": ids["parent"],
            "dependentOn": "Item 1.2",
            "dependentOnId": ids["other"],
            "levelId": ids["level"],
            "level": "Step",
            "name": "Item 1.1",
            "indentedName": "    Item 1.1",
            "description": "Grow «fast»",
            "status": 2,
            "statusName": "At Risk",
            "start": "2024-01-31",
            "due": "2000-02-29",
            "created": "2024-01-02T03:04:05.000006+00:00",
            "hasMetric": True,
            "hasAdvancedMetric": True,
            "units": 1,
            "detail": 0,
            "baseline": "2.5",
            "target": "100",
            "currentValue": "0.3333333333333333",
            "advancedMetricGoals": [
                {
                    "goalId": "goal-1",
                    "goalName": "Floor",
                    "goalColor": "#f00",
                    "metricBucketValue": 12.5,
                    "sortOrder": 1,
                },
                {
                    "goalId": "goal-2",
                    "goalName": "Stretch",
                    "goalColor": "#0f0",
                    "metricBucketValue": 90.0,
                    "sortOrder": 2,
                },
            ],
            "lastUpdated": "2025-06-01T12:00:00+00:00",
            "assignedToId": ids["member"],
            "assignedToFullName": "Bo Member",
            "assignedById": ids["root"],
            "assignedByFullName": "Ada Root",
            "members": [
                {"id": ids["member"], "name": "Bo Member", "type": "User"},
                {"id": ids["team"], "name": "Ops", "type": "Team"},
            ],
            "admins": [{"id": ids["root"], "name": "Ada Root", "type": "User"}],
            "updateFrequency": "Daily",
            "updateFrequencyDescription": "Daily",
            "isPastDue": True,
            "lateUpdates": 7,
            "pendingUpdates": 3,
            "updates": 7,
            "lastCommentId": "41",
            "lastComment": "looks good",
            "lastUpdateCommentId": "42",
            "lastUpdateComment": "on it",
            "files": 3,
            "checklists": [
                {"id": "list-0", "name": "Prepare", "sortIndex": 0, "items": []},
                {
                    "id": "list-1",
                    "name": "Launch",
                    "sortIndex": 1,
                    "items": [
                        {"id": "entry-1", "name": "Test", "sortIndex": 1, "doneOn": "2025-05-04"},
                        {"id": "entry-2", "name": "Ship", "sortIndex": 2, "doneOn": None},
                    ],
                },
            ],
            "tags": [
                {"id": ids["alpha"], "organizationId": ids["organisation"], "name": "alpha"},
                {"id": ids["zeta"], "organizationId": ids["organisation"], "name": "zeta"},
            ],
            "isOrphan": False,
        }
    ]
    # A page's neighbours carry none of it, and a short last page still counts the whole plan.
    rest = export(client, acme, skip=2, take=5).json()
    assert rest["totalCount"] == 4
    assert [i["sequenceId"] for i in rest["items"]] == ["1.2", "1.10"]
    assert all(
        i["members"] == i["admins"] == i["checklists"] == i["tags"] == [] for i in rest["items"]
    )


def test_export_total_count_on_every_page(client, acme):
    """totalCount is the plan's count whichever page answers: full, short, past the end."""
    for params in ({}, {"sortDirection": "desc"}, {"sortKey": "name"}):
        for take in (1, 2, 3, 4, 5):
            for skip in range(6):
                body = export(client, acme, skip=skip, take=take, **params).json()
                assert body["totalCount"] == 4, (params, take, skip)
                assert len(body["items"]) == max(0, min(take, 4 - skip)), (params, take, skip)


def test_export_reads_only_its_scope(client, acme):
    """Rows of another environment that point at the plan or its items (written past the ORM,
    which would refuse them) never reach the export, its count or its nested lists."""
    other = {"organisation_id": acme.organisation_id, "environment": Environment.SANDBOX.value}
    now = dt.datetime.now(dt.UTC)
    item_id = item(acme, "EXT-1.1").id
    with acme.db.engine.begin() as connection:
        insert_item_rows(
            connection,
            [
                {
                    **other,
                    "public_id": "00000000-0000-4000-8000-00000000dead",
                    "plan_id": acme.plan_pk,
                    "sequence_id": "1.5",
                    "sequence_key": sequence_key("1.5"),
                    "external_id": "EXT-1.5",
                    "name": "Item 1.5",
                    "description": "",
                    "custom_fields": {},
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        connection.execute(
            MetricGoal.__table__.insert().values(
                **other,
                public_id="goal-x",
                item_id=item_id,
                name="x",
                color="#000",
                bucket_value=1.0,
            )
        )
        tag_id = connection.execute(
            Tag.__table__.insert().values(**other, public_id="tag-x", name="x", custom_fields={})
        ).inserted_primary_key[0]
        connection.execute(
            PlanItemTag.__table__.insert().values(**other, item_id=item_id, tag_id=tag_id)
        )
        checklist_id = connection.execute(
            Checklist.__table__.insert().values(
                **other, public_id="list-x", item_id=item_id, name="x"
            )
        ).inserted_primary_key[0]
        connection.execute(
            ChecklistEntry.__table__.insert().values(
                **other, public_id="entry-x", checklist_id=checklist_id, name="x"
            )
        )
    for params in ({}, {"sortDirection": "desc"}, {"sortKey": "name"}):
        for take in (1, 4):
            body = export(client, acme, take=take, **params).json()
            assert body["totalCount"] == 4, (params, take)
    items = export(client, acme).json()["items"]
    assert [i["sequenceId"] for i in items] == ["1", "1.1", "1.2", "1.10"]
    assert all(
        i["advancedMetricGoals"] == i["members"] == i["checklists"] == i["tags"] == []
        for i in items
    )


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"skip": -1}, "skip"),
        ({"take": 0}, "take"),
        ({"take": 1501}, "take"),
        ({"take": "many"}, "take"),
        ({"sortKey": "colour"}, "sortKey"),
        ({"sortDirection": "up"}, "sortDirection"),
    ],
)
def test_export_bad_parameters(client, acme, params, parameter):
    response = export(client, acme, **params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["parameter"] == parameter


def test_export_access(client, acme):
    acme.user("viewer")
    acme.user("stranger")
    with acme.session() as session, session.begin():
        viewer_id = session.scalar(select(User.id).where(User.login == "viewer"))
        session.add(PlanAccess(plan_id=acme.plan_pk, user_id=viewer_id, is_admin=False))
    viewer, stranger = acme.key("viewer"), acme.key("stranger")
    assert export(client, acme, key=viewer).status_code == 200
    assert export(client, acme, key=stranger).status_code == 403
    assert export(client, acme, plan_id="00000000-0000-0000-0000-000000000000").status_code == 403
    ids_url = f"/exports/plans/{acme.plan_id}/externalids"
    assert client.get(ids_url, headers=auth(viewer)).status_code == 403
    csv_body = client.get(ids_url, headers=auth(acme.live_key))
    assert csv_body.status_code == 200
    assert csv_body.text.splitlines()[:2] == [
        "External ID,Sequence,Level,Name",
        "EXT-1,1,Goal,Item 1",
    ]


def test_lookup_by_probe_and_by_scan_agree_and_stay_in_scope(acme, make_tenant, monkeypatch):
    from planfeed.jobs import apply as apply_module

    make_plan(acme, Environment.SANDBOX)  # the same External IDs in the sandbox
    make_plan(make_tenant("other"))  # and in another organisation
    wanted = ["EXT-1.1", "EXT-1.10", "EXT-9"]
    with acme.session() as session:
        scanned = apply_module.lookup_items(session, acme.principal(), wanted)
        monkeypatch.setattr(apply_module, "SCAN_SHARE", 10.0)  # now 3 IDs < 10 x 4 items
        probed = apply_module.lookup_items(session, acme.principal(), wanted)
        live_ids = set(session.scalars(select(PlanItem.id)))
    assert scanned == probed
    assert set(scanned.ids) == set(scanned.facts) == {"EXT-1.1", "EXT-1.10"}
    assert set(scanned.ids.values()) <= live_ids
    assert scanned.facts["EXT-1.1"].has_metric
    assert scanned.facts["EXT-1.1"].writable
    assert scanned.facts["EXT-1.10"].has_metric
