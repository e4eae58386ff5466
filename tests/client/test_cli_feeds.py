"""`planfeed feed` against a real server with the demo data: every output format, paging,
streaming, the sandbox, and the errors with their exit codes."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from client_support import Flaky, start_server, stop_server
from planfeed.cli.main import app
from planfeed.client import Client, F
from planfeed.http.app import create_app
from planfeed.training.models import CourseDate

COURSE_DATES = CourseDate.__table__


@pytest.fixture
def feed_cli(tmp_path, monkeypatch, demo):
    """Run `planfeed feed …` with PLANFEED_URL/PLANFEED_API_KEY (the demo's live key)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    for name in ("PLANFEED_ENVIRONMENT", "PLANFEED_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def run(url: str, *args: str, code: int = 0, key: str | None = None):
        env = {"PLANFEED_URL": url, "PLANFEED_API_KEY": key or demo.api_key}
        result = runner.invoke(app, ["feed", *args], env=env)
        assert result.exit_code == code, result.output
        return result

    return run


def _available(db) -> int:
    query = select(func.count()).where(
        COURSE_DATES.c.environment == "live", COURSE_DATES.c.status == "Available"
    )
    with db.engine.connect() as connection:
        return connection.scalar(query)


QUERY = ("--filter", "Status eq 'Available'", "--select", "label,startdate")


def test_feed_json_and_csv_every_page(db, demo, demo_url, feed_cli):
    available = _available(db)
    assert available > 14
    records = json.loads(
        feed_cli(
            demo_url,
            "coursedate",
            *QUERY,
            "--orderby",
            "StartDate desc",
            "--all",
            "--top",
            "7",
            "--format",
            "json",
        ).stdout
    )
    assert len(records) == available
    assert all(list(r) == ["Label", "StartDate"] for r in records)  # the server's names
    starts = [r["StartDate"] for r in records]
    assert starts == sorted(starts, reverse=True)  # same offset everywhere: text order is time

    first_page = json.loads(
        feed_cli(demo_url, "coursedate", *QUERY, "--top", "7", "-f", "json").stdout
    )
    assert len(first_page) == 7

    text = feed_cli(
        demo_url,
        "coursedate",
        *QUERY,
        "--orderby",
        "StartDate desc",
        "--all",
        "--top",
        "7",
        "--format",
        "csv",
    ).stdout
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Label", "StartDate"]
    assert rows[1:] == [[r["Label"], r["StartDate"]] for r in records]

    # quotes and commas survive the filter and the CSV
    with Client(demo_url, api_key=demo.api_key) as client:
        client.create("company", {"Name": 'O\'Neil, "Bros"', "Phone": "1"})
    text = feed_cli(
        demo_url,
        "company",
        "--filter",
        "Name eq 'O''Neil, \"Bros\"'",
        "--select",
        "Name,Phone,Email",
        "-f",
        "csv",
    ).stdout
    assert list(csv.reader(io.StringIO(text))) == [
        ["Name", "Phone", "Email"],
        ['O\'Neil, "Bros"', "1", ""],
    ]
    assert (
        json.loads(
            feed_cli(demo_url, "company", "--filter", "Name eq 'nobody'", "-f", "json").stdout
        )
        == []
    )


def test_feed_table(demo_url, feed_cli):
    result = feed_cli(demo_url, "coursedate", *QUERY, "--orderby", "StartDate", "--top", "5")
    assert "Label" in result.stdout
    assert "StartDate" in result.stdout
    assert "5 records (first page; --all for every page)" in result.output
    everything = feed_cli(demo_url, "company", "--select", "Name", "--all", "--top", "2")
    for name in ("Acme Ltd", "Globex plc", "Initech"):
        assert name in everything.stdout
    assert "3 records" in everything.output


def test_feed_streams_pages_as_they_arrive(settings, db, demo, feed_cli):
    """Page 1 ($skip=1) is refused: page 0 has already been written, then the error."""
    second_page = Flaky(
        create_app(settings, engine=db.engine),
        times=1,
        status=403,
        match=lambda scope: b"skip=1&" in scope["query_string"],
    )
    live = start_server(second_page)
    try:
        result = feed_cli(
            live.url,
            "coursedate",
            "--select",
            "CourseDateID",
            "--all",
            "--top",
            "4",
            "-f",
            "json",
            code=3,
        )
        assert result.stdout.startswith("[\n")
        assert result.stdout.count("CourseDateID") == 4
        second_page.remaining = 1
        result = feed_cli(
            live.url,
            "coursedate",
            "--select",
            "CourseDateID",
            "--all",
            "--top",
            "4",
            "-f",
            "csv",
            code=3,
        )
        assert len(result.stdout.splitlines()) == 5  # the header and page 0
    finally:
        stop_server(live)


def test_feed_in_the_sandbox(demo, demo_url, feed_cli):
    with Client(demo_url, api_key=demo.sandbox_api_key) as client:
        client.create("company", {"Name": "Sandbox Co"})
    names = [
        r["Name"]
        for r in json.loads(
            feed_cli(demo_url, "company", "--all", "-f", "json", key=demo.sandbox_api_key).stdout
        )
    ]
    assert "Sandbox Co" in names
    live = json.loads(feed_cli(demo_url, "company", "--all", "-f", "json").stdout)
    assert "Sandbox Co" not in [r["Name"] for r in live]


def test_feed_errors_name_the_option_and_exit_with_the_documented_code(demo, demo_url, feed_cli):
    bad = feed_cli(demo_url, "coursedate", "--filter", "StartDat eq 'x'", code=2)
    assert "$filter (position 0): unknown field 'StartDat'; did you mean StartDate?" in bad.output
    bad = feed_cli(demo_url, "coursedate", "--filter", "CourseID eq 'FirAid", code=2)
    assert "$filter (position 12): the quote opened here is never closed" in bad.output
    bad = feed_cli(demo_url, "coursedate", "--orderby", "startdate descending", code=2)
    assert "$orderby (position 10): unknown sort direction 'descending'" in bad.output
    bad = feed_cli(demo_url, "coursedate", "--top", "5000", code=2)
    assert "$top" in bad.output
    missing = feed_cli(demo_url, "nosuchmodule", code=1)
    assert "nosuchmodule" in missing.output
    refused = feed_cli(demo_url, "coursedate", key="pfk_live_" + "A" * 43, code=3)
    assert "the server refused the credentials" in refused.output

    with Client(demo_url, api_key=demo.api_key) as admin:
        alice = next(iter(admin.feed("user").filter(F.Username == "alice")))
        key = admin.create_answer("apikey", {"Label": "cli", "UserID": alice["UserID"]})["ApiKey"]
    forbidden = feed_cli(demo_url, "apikey", key=key, code=3)
    assert "not permitted" in forbidden.output
