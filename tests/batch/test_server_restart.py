"""A job queued on one server process is applied by the next one (real processes, both DBs)."""

import signal
import time

import httpx
import pytest
from sqlalchemy import select

from planfeed.accounts.models import Role
from planfeed.plans.models import Plan, PlanItem
from planfeed.plans.statuses import Status

pytestmark = pytest.mark.slow

BODY = (
    b"External ID,Status,Current Metric Value,As Of Date,Comment\nR-1,Achieved,,2025-11-02,done\n"
)


def make_item(tenant, external_id):
    with tenant.session() as session, session.begin():
        plan = Plan(name="Restart")
        session.add(plan)
        session.flush()
        session.add(
            PlanItem(
                plan_id=plan.id,
                sequence_id="1",
                sequence_key="000001",
                external_id=external_id,
                name="Survive a restart",
            )
        )


def item(tenant, external_id):
    with tenant.session() as session:
        return session.scalar(select(PlanItem).where(PlanItem.external_id == external_id))


def status(server, job_id, headers):
    return httpx.get(f"{server.url}/api/progressupdates/status/{job_id}", headers=headers)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
def test_a_queued_job_survives_a_server_restart(make_tenant, start_server, stop_signal):
    tenant = make_tenant("acme")
    tenant.user("root", Role.SUPER_ADMIN)
    make_item(tenant, "R-1")
    headers = {"Authorization": f"API-KEY {tenant.key('root')}"}

    first = start_server(worker=False, env={"PLANFEED_LOG_LEVEL": "info"})
    answer = httpx.post(f"{first.url}/api/progressupdates/restart", content=BODY, headers=headers)
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["jobId"]
    time.sleep(1.0)  # four polls of a worker, had one been running
    queued = status(first, job_id, headers)
    assert queued.status_code == 202
    assert queued.json()["state"] == "queued"

    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: both end as "killed by"
    assert first.stop(stop_signal) == -stop_signal
    if stop_signal is signal.SIGTERM:
        assert "Application shutdown complete" in first.log()
    assert item(tenant, "R-1").status == Status.NOT_STARTED

    second = start_server(worker=True)
    deadline = time.monotonic() + 30
    while (answer := status(second, job_id, headers)).status_code == 202:
        assert time.monotonic() < deadline, f"still queued after 30 s:\n{second.log()}"
        time.sleep(0.1)
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "applied"
    assert answer.json()["appliedRows"] == 1
    applied = item(tenant, "R-1")
    assert applied.status == Status.ACHIEVED
    assert applied.last_update_comment == "done"
    assert applied.updates_count == 1
