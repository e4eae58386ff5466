"""The client commands of `planfeed` against a real server, via typer's runner, with the
config directory in a temporary HOME."""

from __future__ import annotations

import csv
import io
import json
import stat

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from client_support import item, job_count, make_plan
from planfeed.cli import profiles
from planfeed.cli.main import app

GOOD = (
    "External ID,Status,Current Metric Value,As Of Date,Comment\n"
    "EXT-1.1,Off Track,0.25,11/02/2025,Slipping\n"
)
BAD = "EXT-1.1,On Trak,0.25,2025-11-02\nEXT-9,On Track,,2025-11-02\n"


@pytest.fixture
def cli(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in ("PLANFEED_URL", "PLANFEED_API_KEY", "PLANFEED_ENVIRONMENT", "PLANFEED_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def run(*args: str, code: int = 0, input: str | None = None, env: dict | None = None):
        result = runner.invoke(app, list(args), input=input, env=env)
        assert result.exit_code == code, result.output
        return result

    return run


@pytest.fixture
def logged_in(cli, server, acme):
    cli("login", "--url", server, input=acme.live_key + "\n")
    return cli


def test_login_stores_an_owner_only_profile(cli, server, acme):
    result = cli("login", "--url", server, "--platform", "acme", input=acme.live_key + "\n")
    assert "saved profile 'default' as root (SuperAdmin) on acme/live" in result.output
    assert acme.live_key not in result.output  # read without echo
    path = profiles.profiles_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())["profiles"]["default"]
    assert stored == {
        "url": server,
        "api_key": acme.live_key,
        "environment": "live",
        "platform": "acme",
    }
    cli(
        "login",
        "--url",
        server,
        "-e",
        "sandbox",
        "--profile",
        "sbx",
        input=acme.sandbox_key + "\n",
    )
    assert sorted(json.loads(path.read_text())["profiles"]) == ["default", "sbx"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    me = json.loads(cli("whoami", "--profile", "sbx", "--json").stdout)
    assert (me["organisation"], me["environment"]) == ("acme", "sandbox")
    me = json.loads(cli("whoami", "--json", env={"PLANFEED_PROFILE": "sbx"}).stdout)
    assert me["environment"] == "sandbox"
    assert "root (SuperAdmin) on acme/live" in cli("whoami").output


def test_login_names_the_problem_and_the_fix(cli, server, acme):
    wrong_env = cli("login", "--url", server, input=acme.sandbox_key + "\n", code=2)
    assert "the key is a sandbox key; use --environment sandbox" in wrong_env.output
    other = cli(
        "login", "--url", server, "--platform", "globex", input=acme.live_key + "\n", code=2
    )
    assert "belongs to platform 'acme', not 'globex'; use --platform acme" in other.output
    refused = cli("login", "--url", server, input="pfk_live_" + "x" * 36 + "\n", code=3)
    assert "refused the credentials" in refused.output
    assert "planfeed login" in refused.output
    down = cli("login", "--url", "http://127.0.0.1:9", input=acme.live_key + "\n", code=4)
    assert "could not connect" in down.output
    assert not profiles.profiles_path().exists()  # nothing saved on any failure


def test_no_profile_and_environment_overrides(cli, server, acme):
    missing = cli("whoami", code=2)
    assert "run `planfeed login`" in missing.output
    assert "PLANFEED_URL and PLANFEED_API_KEY" in missing.output
    unknown = cli("whoami", "--profile", "nope", code=2)
    assert "no profile 'nope'" in unknown.output
    env = {"PLANFEED_URL": server, "PLANFEED_API_KEY": acme.sandbox_key}
    me = json.loads(cli("whoami", "--json", env=env).stdout)
    assert me["environment"] == "sandbox"  # read from the key
    wrong = cli("whoami", env={**env, "PLANFEED_ENVIRONMENT": "live"}, code=2)
    assert "the key is a sandbox key; use --environment sandbox" in wrong.output


def test_env_overrides_the_stored_profile(logged_in, server, acme):
    me = json.loads(logged_in("whoami", "--json", env={"PLANFEED_API_KEY": acme.viewer_key}).stdout)
    assert me["user"] == "viewer"
    gone = logged_in("whoami", env={"PLANFEED_URL": "http://127.0.0.1:9"}, code=4)
    assert "127.0.0.1:9" in gone.output


def test_push_progress_wait(logged_in, acme, tmp_path):
    path = tmp_path / "updates.csv"
    path.write_text(GOOD)
    result = logged_in("push", "progress", str(path), "--wait")
    assert "applied" in result.stdout
    assert "applied 1 of 1 rows" in result.stdout
    assert item(acme, "EXT-1.1").status == 3
    as_json = json.loads(logged_in("push", "progress", str(path), "--wait", "--json").stdout)
    assert (as_json["state"], as_json["appliedRows"], as_json["fileName"]) == (
        "applied",
        1,
        "updates.csv",
    )


def test_push_without_wait_then_status(logged_in, acme, tmp_path):
    path = tmp_path / "updates.csv"
    path.write_text(GOOD)
    queued = json.loads(logged_in("push", "progress", str(path), "--json").stdout)
    assert queued["state"] in ("queued", "running", "applied")
    text = logged_in("push", "progress", str(path)).stdout
    assert "follow it with: planfeed status" in text
    done = json.loads(logged_in("status", queued["jobId"], "--wait", "--json").stdout)
    assert done["state"] == "applied"
    assert "applied 1 of 1 rows" in logged_in("status", queued["jobId"]).stdout
    missing = logged_in("status", "00000000-0000-0000-0000-000000000000", code=1)
    assert "no job" in missing.output
    assert "environment" in missing.output


def test_push_rejected_shows_the_row_errors(logged_in, acme, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(BAD)
    result = logged_in("push", "progress", str(path), "--wait", code=1)
    assert "Row errors" in result.stdout
    assert "On Trak" in result.stdout
    assert "EXT-9" in result.stdout
    assert "nothing was applied" in result.output
    as_json = json.loads(
        logged_in("push", "progress", str(path), "--wait", "--json", code=1).stdout
    )
    assert as_json["state"] == "rejected"
    assert {e["row"] for e in as_json["errors"]} == {1, 2}
    job = as_json["jobId"]
    status = logged_in("status", job, code=1)
    assert "rejected" in status.stdout
    assert "On Trak" in status.stdout
    assert item(acme, "EXT-1.1").status == 0


def test_push_dry_run(logged_in, acme, tmp_path):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(GOOD)
    bad.write_text(BAD)
    assert "valid: 1 of 1 rows" in logged_in("push", "progress", str(good), "--dry-run").stdout
    invalid = logged_in("push", "progress", str(bad), "--dry-run", code=1)
    assert "invalid: 2 error(s)" in invalid.stdout
    assert "On Trak" in invalid.stdout
    report = json.loads(
        logged_in("push", "progress", str(bad), "--dry-run", "--json", code=1).stdout
    )
    assert report["valid"] is False
    assert len(report["errors"]) == 2
    assert job_count(acme) == 0


def test_push_metrics_and_stdin(logged_in, acme, tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("External ID,Metric Value,As Of Date\nEXT-1.10,0.4,2025-11-02\n")
    assert "applied 1 of 1" in logged_in("push", "metrics", str(path), "--wait").stdout
    assert item(acme, "EXT-1.10").current_value == 0.4
    piped = logged_in("push", "metrics", "-", "--wait", input="EXT-1.10,0.6,2025-11-03\n")
    assert "applied 1 of 1" in piped.stdout
    assert item(acme, "EXT-1.10").current_value == 0.6


def test_push_bad_input(logged_in, tmp_path):
    missing = logged_in("push", "progress", str(tmp_path / "nope.csv"), code=2)
    assert "no file" in missing.output
    assert "check the path" in missing.output
    assert logged_in("push", "kpis", "x.csv", code=2).exit_code == 2


def test_push_unauthorised_key(cli, server, acme, tmp_path):
    path = tmp_path / "updates.csv"
    path.write_text(GOOD)
    env = {"PLANFEED_URL": server, "PLANFEED_API_KEY": "pfk_live_" + "y" * 36}
    result = cli("push", "progress", str(path), env=env, code=3)
    assert "planfeed login" in result.output


def test_export_plan_json_csv_xlsx(logged_in, acme, tmp_path):
    out_json = tmp_path / "plan.json"
    result = logged_in("export", "plan", acme.plan_id, "--format", "json", "-o", str(out_json))
    assert f"exported 4 items of plan {acme.plan_id}" in result.output
    items = json.loads(out_json.read_text())
    assert [i["sequenceId"] for i in items] == ["1", "1.1", "1.2", "1.10"]
    assert items[1]["currentValue"] == "1"

    out_csv = tmp_path / "plan.csv"
    logged_in("export", "plan", acme.plan_id, "--format", "csv", "-o", str(out_csv))
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert [r["# (Sequence)"] for r in rows] == ["1", "1.1", "1.2", "1.10"]
    assert rows[1]["Current Value"] == "1"
    assert rows[1]["Target"] == "2.5"
    assert rows[0]["Current Value"] == ""  # no metric: blank, not 0
    assert rows[1]["Aligns To"] == "Item 1"
    assert rows[1]["Level"] == "Step"

    out_xlsx = tmp_path / "plan.xlsx"
    logged_in("export", "plan", acme.plan_id, "--format", "xlsx", "-o", str(out_xlsx))
    sheet = load_workbook(out_xlsx).active
    values = list(sheet.values)
    header = values[0]
    assert header[:4] == ("Row", "# (Sequence)", "Level", "Name")
    assert [row[1] for row in values[1:]] == ["1", "1.1", "1.2", "1.10"]
    target = header.index("Target")
    assert values[2][target] == 2.5  # a number, not text
    assert isinstance(
        values[2][header.index("Created")], type(__import__("datetime").datetime.now())
    )

    stdout = logged_in("export", "plan", acme.plan_id, "--format", "csv").stdout
    assert stdout.splitlines()[0].startswith("Row,# (Sequence),Level,Name")
    desc = json.loads(
        logged_in(
            "export", "plan", acme.plan_id, "--sort-key", "name", "--sort-direction", "desc"
        ).stdout
    )
    assert [i["name"] for i in desc] == ["Item 1.2", "Item 1.10", "Item 1.1", "Item 1"]


def test_export_pages_and_errors(logged_in, acme, tmp_path):
    plan_id = make_plan(
        acme, items=[(str(n), False) for n in range(1, 1502)], name="Big", prefix="BIG-"
    )
    out_csv = tmp_path / "big.csv"
    logged_in("export", "plan", plan_id, "-f", "csv", "-o", str(out_csv))
    assert len(out_csv.read_text().splitlines()) == 1502
    assert logged_in("export", "plan", plan_id, "-f", "xlsx", code=2).output.count("-o") >= 1
    bad = logged_in("export", "plan", acme.plan_id, "--sort-key", "colour", code=2)
    assert "sortKey" in bad.output
    nowhere = logged_in(
        "export", "plan", acme.plan_id, "-o", str(tmp_path / "no" / "x.json"), code=2
    )
    assert "create it first" in nowhere.output
    denied = logged_in(
        "export",
        "plan",
        acme.plan_id,
        "-o",
        str(tmp_path / "denied.json"),
        env={"PLANFEED_API_KEY": acme.viewer_key},
        code=3,
    )
    assert "not permitted" in denied.output
    assert not (tmp_path / "denied.json").exists()
    assert not (tmp_path / "denied.json.part").exists()
