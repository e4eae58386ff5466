"""The demo organisation, loaded in-process and through a real `planfeed serve --demo`."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from planfeed.accounts.models import ApiKey, User
from planfeed.db.base import Environment
from planfeed.db.engine import make_sessionmaker
from planfeed.db.scope import Scope, bind_scope
from planfeed.demo import load_demo
from planfeed.plans.models import Plan, PlanItem, PlanLevel
from planfeed.training.models import Booking, CourseDate, CourseTemplate
from support import TEST_SECRET


def counts(db, organisation_id, environment):
    with bind_scope(make_sessionmaker(db.engine)(), Scope(organisation_id, environment)) as s:
        return {
            model.__name__: s.scalar(select(func.count()).select_from(model))
            for model in (
                User,
                Plan,
                PlanLevel,
                PlanItem,
                CourseTemplate,
                CourseDate,
                Booking,
                ApiKey,
            )
        }


def test_demo_contents_and_second_start(db, tmp_path, client):
    credentials = load_demo(db.engine, TEST_SECRET, tmp_path)
    saved = json.loads((tmp_path / "demo-credentials.json").read_text())
    assert set(saved) == {
        "platform",
        "username",
        "password",
        "api_key",
        "sandbox_api_key",
        "plan_id",
    }
    assert saved["platform"] == "demo"
    with db.engine.connect() as connection:
        organisation_id = connection.exec_driver_sql("SELECT id FROM organisations").scalar()
    live = counts(db, organisation_id, Environment.LIVE)
    assert live["PlanItem"] == 65
    assert live["PlanLevel"] == 3
    assert live["CourseDate"] == 200
    assert live["Booking"] > 100
    assert live["User"] >= 4
    with db.engine.connect() as connection:
        roles = {r for (r,) in connection.exec_driver_sql("SELECT DISTINCT role FROM users")}
        codes = {c for (c,) in connection.exec_driver_sql("SELECT code FROM course_templates")}
        available = connection.exec_driver_sql(
            "SELECT count(*) FROM course_dates WHERE status = 'Available'"
        ).scalar()
    assert roles == {"SuperAdmin", "Admin", "User"}
    assert "FirAid" in codes
    assert available > 0
    sandbox = counts(db, organisation_id, Environment.SANDBOX)
    assert {k: v for k, v in sandbox.items() if k != "ApiKey"} == {
        k: v for k, v in live.items() if k != "ApiKey"
    }

    for key, environment in (
        (credentials.api_key, "live"),
        (credentials.sandbox_api_key, "sandbox"),
    ):
        body = client.get("/api/whoami", headers={"Authorization": f"API-KEY {key}"}).json()
        assert body == {
            "organisation": "demo",
            "environment": environment,
            "user": "admin",
            "role": "SuperAdmin",
            "credential": "api_key",
        }

    again = load_demo(db.engine, TEST_SECRET, tmp_path)
    assert again == credentials
    assert counts(db, organisation_id, Environment.LIVE) == live
    assert (tmp_path / "demo-progress.csv").read_text().startswith("External ID,Status")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_planfeed_serve_demo_subprocess(db, tmp_path):
    port = free_port()
    env = {**os.environ, "PLANFEED_DATABASE_URL": db.url}
    env.pop("PLANFEED_SECRET_KEY", None)
    command = [
        sys.executable,
        "-m",
        "planfeed.cli.main",
        "serve",
        "--demo",
        "--data-dir",
        str(tmp_path),
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            raise AssertionError("server did not become ready")
        credentials = json.loads(Path(tmp_path, "demo-credentials.json").read_text())
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/whoami",
            headers={"Authorization": f"API-KEY {credentials['api_key']}"},
        )
        assert response.json()["organisation"] == "demo"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert credentials["api_key"] in output
    assert credentials["password"] in output
    assert f"http://127.0.0.1:{port}" in output
