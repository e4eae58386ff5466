"""The Python client's batch and export methods against a real server (uvicorn on loopback,
with its worker thread), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import update

from client_support import FAST_RETRY, item, job_count, make_plan, start_server, stop_server
from client_support import RecordingTransport as Recording
from planfeed.client import (
    AsyncClient,
    AuthenticationError,
    BatchRejected,
    Client,
    ConfigurationError,
    ConnectionFailed,
    JobFailed,
    JobState,
    MetricRow,
    NotFoundError,
    PermissionDeniedError,
    PlanItem,
    PollPolicy,
    ProgressRow,
    RetryPolicy,
    ServerError,
    ValidationError,
    WaitTimeout,
)
from planfeed.db.base import Environment

GOOD = b"External ID,Status,Current Metric Value,As Of Date,Comment\r\n" + (
    b"EXT-1.1,Off Track,0.25,11/02/2025,Slipping\r\nEXT-1,On Track,,2025-11-01,\r\n"
)
BAD = b"EXT-1.1,On Trak,0.25,2025-11-02\nEXT-9,On Track,,2025-11-02\nEXT-1.10,At Risk,,2025-11-02\n"


def test_push_progress_file_waits_and_applies(server, acme, tmp_path):
    path = tmp_path / "my_updates.csv"
    path.write_bytes(GOOD)
    seen = []
    with Client(server, api_key=acme.live_key) as client:
        result = client.push_progress(path, on_status=seen.append)
    assert result.state is JobState.APPLIED
    assert result.ok
    assert result.finished
    assert (result.total_rows, result.applied_rows, result.errors) == (2, 2, ())
    assert result.file_name == "my_updates.csv"
    assert result.kind == "progress"
    assert result.submitted_at is not None
    assert result.finished_at >= result.submitted_at
    assert seen[-1] == result
    updated = item(acme, "EXT-1.1")
    assert (updated.status, updated.current_value) == (3, 0.25)
    assert updated.last_update_comment == "Slipping"


def test_push_without_wait_then_wait_and_status(server, acme):
    with Client(server, api_key=acme.live_key) as client:
        queued = client.push_progress(GOOD, wait=False, filename="nightly.csv")
        assert queued.job_id
        assert queued.file_name == "nightly.csv"
        assert queued.state in (JobState.QUEUED, JobState.RUNNING, JobState.APPLIED)
        done = client.wait(queued.job_id)  # kind found by asking both endpoints
        assert done.state is JobState.APPLIED
        assert client.job_status(queued.job_id, "progress") == done
        assert client.job_status(queued.job_id) == done
        with pytest.raises(NotFoundError) as missing:
            client.job_status(queued.job_id, "metric")  # wrong endpoint: 404, as the server says
        assert missing.value.status == 404
        with pytest.raises(NotFoundError):
            client.job_status("00000000-0000-0000-0000-000000000000")


def test_push_typed_rows_and_dicts(server, acme):
    rows = [
        ProgressRow("EXT-1.1", "At Risk", dt.date(2025, 11, 3), Decimal("0.75"), "typed"),
        {"external_id": "EXT-1.2", "Status": "achieved", "As Of": dt.datetime(2025, 11, 3, 9)},
    ]
    with Client(server, api_key=acme.live_key) as client:
        result = client.push_progress(rows)
        assert (result.total_rows, result.applied_rows) == (2, 2)
        metrics = client.push_metrics([MetricRow("EXT-1.10", 0.5, "2025-11-04")])
        assert metrics.state is JobState.APPLIED
        assert metrics.kind == "metric"
    assert (item(acme, "EXT-1.1").status, item(acme, "EXT-1.1").current_value) == (2, 0.75)
    assert item(acme, "EXT-1.2").status == 4
    assert item(acme, "EXT-1.10").current_value == 0.5


def test_rejected_file_raises_with_typed_row_errors(server, acme):
    with Client(server, api_key=acme.live_key) as client, pytest.raises(BatchRejected) as caught:
        client.push_progress(BAD, filename="bad.csv")
    rejected = caught.value
    assert rejected.result.state is JobState.REJECTED
    assert rejected.result.applied_rows == 0
    by_row = {error.row: error for error in rejected.errors}
    assert set(by_row) == {1, 2, 3}
    assert by_row[1].column == "Status"
    assert by_row[1].value == "On Trak"
    assert "On Track" in by_row[1].message  # the did-you-mean
    assert by_row[2].column == "External ID"
    assert by_row[2].value == "EXT-9"
    assert "Current Metric Value" in str(by_row[3])
    assert "nothing was applied" in str(rejected)
    assert item(acme, "EXT-1.1").status == 0  # nothing applied


def test_rejected_rows_numbered_as_given(server, acme):
    rows = [ProgressRow("EXT-1", "On Track", "2025-11-01"), ProgressRow("EXT-1", "Nope", "x")]
    with Client(server, api_key=acme.live_key) as client, pytest.raises(BatchRejected) as caught:
        client.push_progress(rows)
    assert {e.row for e in caught.value.errors} == {2}  # the second row given
    assert {e.column for e in caught.value.errors} == {"Status", "As Of Date"}


def test_validate_uses_the_dry_run(server, acme):
    with Client(server, api_key=acme.live_key) as client:
        good = client.validate("progress", GOOD, filename="check.csv")
        assert good.valid
        assert (good.total_rows, good.valid_rows, good.errors) == (2, 2, ())
        bad = client.validate("progress", BAD)
        assert not bad.valid
        assert bad.total_rows == 3
        assert len(bad.errors) == 3
        assert bad.errors[0].row == 1
        metric = client.validate("metric", [MetricRow("EXT-1.1", 1, "2025-01-01")])
        assert metric.valid
    assert job_count(acme) == 0  # nothing queued


def test_bad_input_is_refused_before_sending(server, acme, tmp_path):
    with Client(server, api_key=acme.live_key) as client:
        with pytest.raises(ConfigurationError, match="no file"):
            client.push_progress(tmp_path / "missing.csv")
        with pytest.raises(TypeError, match="row 2 is a int"):
            client.push_progress([{"externalId": "EXT-1"}, 7])
        with pytest.raises(ConfigurationError, match="'progress' or 'metric'"):
            client.push("kpi", GOOD)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="exactly one"):
        Client(server)
    with pytest.raises(ConfigurationError, match="exactly one"):
        Client(server, api_key=acme.live_key, token="t")
    with pytest.raises(ConfigurationError, match="both username and password"):
        Client(server, username="root")


def test_sandbox(server, acme):
    with pytest.raises(ConfigurationError) as mismatch:
        Client(server, api_key=acme.sandbox_key, environment="live")
    assert "the key is a sandbox key; use environment='sandbox'" in str(mismatch.value)
    with Client(server, api_key=acme.sandbox_key) as client:
        assert client.environment == "sandbox"
        assert client.whoami().environment == "sandbox"
        client.push_progress([ProgressRow("EXT-1.1", "Achieved", "2025-11-05", 2)])
        assert next(i.plan_id for i in client.export_plan(acme.sandbox_plan_id)) == (
            acme.sandbox_plan_id
        )
        with pytest.raises(PermissionDeniedError):
            client.export_plan(acme.plan_id).__next__()  # live plan: invisible from sandbox
    assert item(acme, "EXT-1.1", Environment.SANDBOX).status == 4
    assert item(acme, "EXT-1.1").status == 0


def test_typed_errors(server, acme):
    wrong = acme.live_key[:-1] + ("A" if acme.live_key[-1] != "A" else "B")
    with Client(server, api_key=wrong) as client, pytest.raises(AuthenticationError) as auth:
        client.whoami()
    assert auth.value.status == 401
    assert auth.value.code == "invalid_key_checksum"
    with Client(server, token="not-a-token") as client, pytest.raises(AuthenticationError):
        client.push_progress(GOOD)
    with Client(server, api_key=acme.viewer_key) as client:
        with pytest.raises(PermissionDeniedError) as denied:
            list(client.export_plan(acme.plan_id))
        assert denied.value.status == 403
    with Client(server, api_key=acme.live_key) as client:
        with pytest.raises(ValidationError) as invalid:
            list(client.export_plan(acme.plan_id, sort_key="colour", sort_direction="up"))
        fields = {e.field for e in invalid.value.field_errors}
        assert fields == {"sortKey", "sortDirection"}
        assert "colour" in invalid.value.message


def test_export_plan_typed_items_all_pages(server, acme):
    recording = Recording()
    with Client(server, api_key=acme.live_key, transport=recording) as client:
        items = list(client.export_plan(acme.plan_id, page_size=3))
        assert [i.sequence_id for i in items] == ["1", "1.1", "1.2", "1.10"]
        assert [r.url.params["skip"] for r in recording.requests] == ["0", "3"]
        first = items[1]
        assert isinstance(first, PlanItem)
        assert (first.name, first.level, first.status_name) == ("Item 1.1", "Step", "Not Started")
        assert first.has_metric
        assert first.current_value == Decimal("1")
        assert first.target == Decimal("2.5")
        assert first.aligns_to == "Item 1"
        assert first.parent_sequence_id == "1"
        assert isinstance(first.created, dt.datetime)
        assert first.raw["sequenceId"] == "1.1"
        recording.requests.clear()
        desc = [i.name for i in client.export_plan(acme.plan_id, sort_key="name", page_size=1)]
        assert len(desc) == 4
        assert len(recording.requests) == 4
        backwards = client.export_plan(acme.plan_id, sort_key="sequenceId", sort_direction="desc")
        assert [i.sequence_id for i in backwards] == ["1.10", "1.2", "1.1", "1"]


def test_export_uses_the_largest_page(server, acme):
    plan_id = make_plan(
        acme, items=[(str(n), False) for n in range(1, 1602)], name="Big", prefix="BIG-"
    )
    recording = Recording()
    with Client(server, api_key=acme.live_key, transport=recording) as client:
        pages = list(client.export_pages(plan_id))
    assert [len(p.items) for p in pages] == [1500, 101]
    assert [p.total_count for p in pages] == [1601, 1601]
    assert [r.url.params["take"] for r in recording.requests] == ["1500", "1500"]
    ids = [i.id for p in pages for i in p.items]
    assert len(set(ids)) == 1601


def test_retry_after_a_dropped_answer_makes_one_job(dropping_proxy, acme):
    """The server queues the job but the answer is lost: the retry, with the same
    Idempotency-Key, gets the same job back instead of a second one."""
    proxy = dropping_proxy(mode="after")
    with Client(proxy.url, api_key=acme.live_key, retry=FAST_RETRY) as client:
        result = client.push_progress(GOOD)
    assert result.state is JobState.APPLIED
    assert proxy.dropped == 1
    assert proxy.connections >= 2
    assert job_count(acme) == 1
    assert item(acme, "EXT-1.1").updates_count == 1


def test_retry_after_a_connection_dropped_before_the_server(dropping_proxy, acme):
    proxy = dropping_proxy(mode="before", drops=2)
    with Client(proxy.url, api_key=acme.live_key, retry=FAST_RETRY) as client:
        assert client.push_progress(GOOD).ok
    assert proxy.dropped == 2
    assert job_count(acme) == 1


def test_gives_up_after_the_last_attempt(dropping_proxy, acme):
    proxy = dropping_proxy(mode="before", drops=10)
    with (
        Client(proxy.url, api_key=acme.live_key, retry=RetryPolicy(attempts=3, backoff=0.01)) as c,
        pytest.raises(ConnectionFailed, match="after 3 attempts"),
    ):
        c.push_progress(GOOD)
    assert proxy.dropped == 3
    assert job_count(acme) == 0


def test_connection_refused(acme):
    sock = __import__("socket").socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now
    client = Client(f"http://127.0.0.1:{port}", api_key=acme.live_key, retry=FAST_RETRY)
    with client, pytest.raises(ConnectionFailed, match="could not connect"):
        client.whoami()


def test_503_honours_retry_after(flaky_server, acme):
    url, flaky = flaky_server(times=2, status=503, headers={"Retry-After": "1"})
    started = time.monotonic()
    with Client(url, api_key=acme.live_key) as client:
        assert client.whoami().user == "root"
    assert time.monotonic() - started >= 2.0  # two waits of the server's 1 s
    gaps = [b[2] - a[2] for a, b in zip(flaky.seen, flaky.seen[1:], strict=False)]
    assert len(flaky.seen) == 3
    assert all(gap >= 0.95 for gap in gaps)


def test_429_then_success_on_a_batch_post(flaky_server, acme):
    url, flaky = flaky_server(
        times=1, status=429, headers={"Retry-After": "0"}, match=lambda s: s["method"] == "POST"
    )
    with Client(url, api_key=acme.live_key, retry=FAST_RETRY) as client:
        assert client.push_progress(GOOD).ok
    assert [m for m, _, _ in flaky.seen] == ["POST", "POST"]
    assert job_count(acme) == 1


def test_5xx_on_every_attempt_is_a_server_error(flaky_server, acme):
    url, flaky = flaky_server(times=100, status=502)
    with (
        Client(url, api_key=acme.live_key, retry=RetryPolicy(attempts=3, backoff=0.01)) as c,
        pytest.raises(ServerError) as caught,
    ):
        c.whoami()
    assert caught.value.status == 502
    assert len(flaky.seen) == 3


def test_timeout_is_configurable(flaky_server, acme):
    url, _ = flaky_server(times=5, delay=1.5)
    client = Client(url, api_key=acme.live_key, timeout=0.3, retry=RetryPolicy(attempts=2))
    started = time.monotonic()
    with client, pytest.raises(ConnectionFailed, match="in time"):
        client.whoami()
    assert time.monotonic() - started < 1.5


def test_wait_timeout(settings, db, acme):
    """No worker: the job stays queued and the wait gives up, naming the job."""
    from planfeed.http.app import create_app

    live = start_server(create_app(settings, engine=db.engine))  # run_worker=False
    try:
        poll = PollPolicy(first_interval=0.05, max_interval=0.1)
        with (
            Client(live.url, api_key=acme.live_key, poll=poll) as client,
            pytest.raises(WaitTimeout) as caught,
        ):
            client.push_progress(GOOD, wait_timeout=0.5)
        assert caught.value.result.state is JobState.QUEUED
        assert caught.value.result.job_id in str(caught.value)
    finally:
        stop_server(live)


def test_async_client(server, acme):
    async def scenario():
        recording = Recording.async_()
        async with AsyncClient(server, api_key=acme.live_key, transport=recording) as client:
            me = await client.whoami()
            result = await client.push_progress(GOOD)
            metric = await client.push_metrics([MetricRow("EXT-1.10", 3, "2025-11-09")])
            with pytest.raises(BatchRejected) as rejected:
                await client.push_progress(BAD)
            report = await client.validate("progress", BAD)
            items = [i async for i in client.export_plan(acme.plan_id, page_size=2)]
            status = await client.job_status(result.job_id)
            waited = await client.wait(metric.job_id, wait_timeout=5)
            assert waited == await client.job_status(metric.job_id, "metric")
        return me, result, metric, rejected.value, report, items, status, recording

    me, result, metric, rejected, report, items, status, recording = asyncio.run(scenario())
    assert me.organisation == "acme"
    assert result.ok
    assert metric.ok
    assert status == result
    assert len(rejected.errors) == 3
    assert not report.valid
    assert [i.sequence_id for i in items] == ["1", "1.1", "1.2", "1.10"]
    skips = [r.url.params["skip"] for r in recording.requests if "exports" in r.url.path]
    assert skips == ["0", "2"]
    assert item(acme, "EXT-1.10").current_value == 3


def test_async_client_retries_a_dropped_answer(dropping_proxy, acme):
    proxy = dropping_proxy(mode="after")

    async def scenario():
        async with AsyncClient(proxy.url, api_key=acme.live_key, retry=FAST_RETRY) as client:
            return await client.push_progress(GOOD)

    assert asyncio.run(scenario()).ok
    assert proxy.dropped == 1
    assert job_count(acme) == 1


def test_async_client_in_process(app, acme):
    """The async client also runs against the ASGI app in-process (no worker there)."""

    async def scenario():
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with AsyncClient("http://planfeed", api_key=acme.live_key, transport=transport) as c:
            queued = await c.push_progress(GOOD, wait=False)
            return queued, [i async for i in c.export_plan(acme.plan_id)]

    queued, items = asyncio.run(scenario())
    assert queued.state is JobState.QUEUED
    assert len(items) == 4


def test_a_failed_job_is_an_answer_not_a_retry(settings, db, acme):
    """A job that failed on the server answers its status with 500: the client takes that as
    the answer (one request, no retries) and push(wait=True) raises JobFailed."""
    from planfeed.db.base import utcnow
    from planfeed.http.app import create_app
    from planfeed.jobs.models import Job

    def fail_jobs():
        with db.engine.begin() as connection:
            return connection.execute(
                update(Job.__table__)
                .where(Job.state == "queued")
                .values(state="failed", finished_at=utcnow(), last_error="boom")
            ).rowcount

    live = start_server(create_app(settings, engine=db.engine))  # no worker: we decide
    try:
        recording = Recording()
        with Client(live.url, api_key=acme.live_key, transport=recording) as client:
            queued = client.push_progress(GOOD, wait=False)
            assert fail_jobs() == 1
            recording.requests.clear()
            failed = client.job_status(queued.job_id, "progress")
            assert failed.state is JobState.FAILED
            assert "failed" in failed.message
            assert len(recording.requests) == 1

            def fail_soon():
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not fail_jobs():
                    time.sleep(0.05)

            killer = threading.Thread(target=fail_soon)
            killer.start()
            with pytest.raises(JobFailed) as caught:
                client.push_progress(GOOD)
            killer.join()
            assert caught.value.result.state is JobState.FAILED
    finally:
        stop_server(live)
