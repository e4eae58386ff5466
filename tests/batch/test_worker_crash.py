"""A worker killed with SIGKILL mid-job loses nothing and applies nothing twice (real processes)."""

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from planfeed.accounts.models import Role
from planfeed.auth.principal import Principal
from planfeed.db.base import Environment
from planfeed.jobs import queue
from planfeed.jobs.models import Job
from planfeed.jobs.worker import Worker
from planfeed.plans.models import Plan, PlanItem, ProgressUpdate, insert_item_rows
from support import TEST_SECRET

ROWS = 60_000


def seed_items(tenant, count):
    with tenant.session() as session, session.begin():
        plan = Plan(name="Big")
        session.add(plan)
        session.flush()
        insert_item_rows(
            session.connection(),
            [
                {
                    "organisation_id": tenant.organisation_id,
                    "environment": "live",
                    "plan_id": plan.id,
                    "public_id": f"00000000-0000-0000-0000-{i:012d}",
                    "sequence_id": str(i + 1),
                    "sequence_key": f"{i + 1:06d}",
                    "external_id": f"K{i}",
                    "name": f"item {i}",
                    "description": "",
                    "status": 0,
                    "has_metric": False,
                    "rollup": "Manual",
                    "update_frequency": "NotRequired",
                    "grace_days": 0,
                    "files_count": 0,
                    "updates_count": 0,
                    "custom_fields": {},
                    "created_at": plan.created_at,
                    "updated_at": plan.created_at,
                }
                for i in range(count)
            ],
        )


def job_state(db, job_id):
    with db.engine.connect() as connection:
        return connection.execute(select(Job.state).where(Job.id == job_id)).scalar_one()


@pytest.mark.slow
def test_sigkill_mid_job_then_rescue_applies_exactly_once(db, make_tenant, tmp_path):
    tenant = make_tenant("acme")
    user = tenant.user("root", Role.SUPER_ADMIN)
    seed_items(tenant, ROWS)
    body = "".join(f"K{i},On Track,,2025-01-01\n" for i in range(ROWS)).encode()
    principal = Principal(
        tenant.organisation_id, "acme", Environment.LIVE, user.id, "root", "SuperAdmin", "api_key"
    )
    with tenant.session() as session, session.begin():
        job_id = queue.enqueue(
            session, principal, kind="progress", filename="big.csv", body=body, content_type=None
        ).job.id

    env = {
        **os.environ,
        "PLANFEED_DATABASE_URL": db.url,
        "PLANFEED_SECRET_KEY": TEST_SECRET,
        "PLANFEED_DATA_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "planfeed.cli.main", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while job_state(db, job_id) == "queued" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert job_state(db, job_id) == "running"
        time.sleep(0.2)  # well inside the job
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert job_state(db, job_id) == "running"  # its transaction died with it
    with tenant.session() as session:
        assert session.scalar(select(func.count()).select_from(ProgressUpdate)) == 0

    assert queue.rescue_stale(db.engine, stale_after=__import__("datetime").timedelta(0)) == 1
    assert job_state(db, job_id) == "queued"
    assert Worker(db.engine, worker_id="rescuer").run_once()
    assert job_state(db, job_id) == "applied"
    with tenant.session() as session:
        assert session.scalar(select(func.count()).select_from(ProgressUpdate)) == ROWS
        assert session.scalar(select(func.sum(PlanItem.updates_count))) == ROWS


def test_a_rescued_job_cannot_be_finished_by_its_old_worker(db, make_tenant):
    tenant = make_tenant("acme")
    user = tenant.user("root", Role.SUPER_ADMIN)
    principal = Principal(
        tenant.organisation_id, "acme", Environment.LIVE, user.id, "root", "SuperAdmin", "api_key"
    )
    with tenant.session() as session, session.begin():
        queue.enqueue(
            session, principal, kind="progress", filename="x", body=b"x", content_type=None
        )
    claimed = queue.claim(db.engine, "slow-worker")
    assert claimed is not None
    assert queue.claim(db.engine, "other") is None  # nothing else to take
    import datetime as dt

    queue.rescue_stale(db.engine, stale_after=dt.timedelta(0))
    again = queue.claim(db.engine, "fresh-worker")
    assert again is not None
    assert again.id == claimed.id
    from planfeed.db.engine import make_sessionmaker

    with make_sessionmaker(db.engine, writer=True).begin() as session:
        assert not queue.finish_guard(session, claimed.id, "slow-worker", {"state": "applied"})
    assert not queue.heartbeat(db.engine, claimed.id, "slow-worker")
    assert queue.heartbeat(db.engine, claimed.id, "fresh-worker")


def test_finish_time_is_taken_after_the_work(db, make_tenant, monkeypatch):
    """The job's finish time comes after its rows were applied, not when the guard ran."""
    import datetime as dt

    from planfeed.jobs import worker as worker_module

    tenant = make_tenant("acme")
    user = tenant.user("root", Role.SUPER_ADMIN)
    seed_items(tenant, 3)
    principal = Principal(
        tenant.organisation_id, "acme", Environment.LIVE, user.id, "root", "SuperAdmin", "api_key"
    )
    body = (
        b"External ID,Status,Current Metric Value,As Of Date\n"
        b"K0,On Track,,2025-01-01\nK1,Achieved,,2025-01-01\nK2,Off Track,,2025-01-01\n"
    )
    with tenant.session() as session, session.begin():
        queue.enqueue(
            session, principal, kind="progress", filename="x.csv", body=body, content_type=None
        )
    slow_apply = worker_module.apply

    def apply_slowly(*args, **kwargs):
        time.sleep(0.4)
        return slow_apply(*args, **kwargs)

    monkeypatch.setattr(worker_module, "apply", apply_slowly)
    claimed = queue.claim(db.engine, "timing-worker")
    assert claimed is not None
    assert worker_module.process(db.engine, claimed, "timing-worker", 1000) == "applied"
    with db.engine.connect() as connection:
        started, finished = connection.execute(
            select(Job.started_at, Job.finished_at).where(Job.id == claimed.id)
        ).one()
    assert finished - started >= dt.timedelta(seconds=0.4)


def test_a_job_runs_with_the_cycle_collector_paused_and_leaves_it_as_it_was(
    db, make_tenant, monkeypatch
):
    """The collector is off while a job is processed, and back on after it, also after a job
    that raised; a collector someone else turned off stays off."""
    import gc

    from planfeed.jobs import worker as worker_module

    tenant = make_tenant("acme")
    user = tenant.user("root", Role.SUPER_ADMIN)
    seed_items(tenant, 2)
    principal = Principal(
        tenant.organisation_id, "acme", Environment.LIVE, user.id, "root", "SuperAdmin", "api_key"
    )
    seen: list[bool] = []
    real_apply = worker_module.apply

    def apply_and_look(*args, **kwargs):
        seen.append(gc.isenabled())
        return real_apply(*args, **kwargs)

    def apply_and_fail(*args, **kwargs):
        seen.append(gc.isenabled())
        raise RuntimeError("the database went away")

    body = b"External ID,Status,Current Metric Value,As Of Date\nK0,On Track,,2025-01-01\n"
    for fake_apply in (apply_and_look, apply_and_fail):
        with tenant.session() as session, session.begin():
            queue.enqueue(
                session, principal, kind="progress", filename="x.csv", body=body, content_type=None
            )
        monkeypatch.setattr(worker_module, "apply", fake_apply)
        claimed = queue.claim(db.engine, "gc-worker")
        assert claimed is not None
        assert gc.isenabled()
        if fake_apply is apply_and_fail:
            with pytest.raises(RuntimeError):
                worker_module.process(db.engine, claimed, "gc-worker", 1000)
        else:
            assert worker_module.process(db.engine, claimed, "gc-worker", 1000) == "applied"
        assert gc.isenabled()
    assert seen == [False, False]
    gc.disable()
    try:
        with worker_module.collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
