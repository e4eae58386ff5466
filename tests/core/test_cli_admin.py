"""The admin CLI against a real database (both backends), via typer's runner."""

import json

import pytest
from typer.testing import CliRunner

from planfeed.cli.main import app
from support import TEST_SECRET


@pytest.fixture
def cli(db, tmp_path, monkeypatch):
    monkeypatch.setenv("PLANFEED_DATABASE_URL", db.url)
    monkeypatch.setenv("PLANFEED_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("PLANFEED_DATA_DIR", str(tmp_path))
    runner = CliRunner()

    def run(*args: str, code: int = 0, input: str | None = None):
        result = runner.invoke(app, list(args), input=input)
        assert result.exit_code == code, result.output
        return result

    return run


def test_org_user_key_lifecycle(cli, client):
    cli("migrate")
    cli("org", "create", "acme", "--display-name", "Acme Ltd")
    cli("org", "create", "acme", code=2)
    cli("org", "create", "Not A Name", code=2)
    cli(
        "user",
        "create",
        "--org",
        "acme",
        "--login",
        "ops",
        "--email",
        "ops@acme.example",
        "--role",
        "SuperAdmin",
        "--password",
        "pw-123456",
    )
    created = json.loads(
        cli("key", "create", "--org", "acme", "--user", "ops", "--label", "ERP", "--json").stdout
    )
    assert created["key"].startswith("pfk_live_")
    headers = {"Authorization": f"API-KEY {created['key']}"}
    assert client.get("/api/whoami", headers=headers).json()["user"] == "ops"

    listed = json.loads(cli("key", "list", "--org", "acme", "--json").stdout)
    assert [row["label"] for row in listed] == ["ERP"]
    assert created["key"] not in json.dumps(listed)

    cli("key", "disable", str(created["id"]), "--org", "acme")
    assert client.get("/api/whoami", headers=headers).json()["error"] == "key_disabled"
    cli("key", "enable", str(created["id"]), "--org", "acme")
    assert client.get("/api/whoami", headers=headers).status_code == 200
    cli("key", "disable", "9999", "--org", "acme", code=2)


def test_sandbox_key_and_reset(cli, client):
    cli("org", "create", "acme")
    cli(
        "user",
        "create",
        "--org",
        "acme",
        "--login",
        "ops",
        "--email",
        "ops@acme.example",
        "--role",
        "SuperAdmin",
        "--password",
        "pw-123456",
    )
    cli(
        "key",
        "create",
        "--org",
        "acme",
        "--user",
        "ops",
        "--label",
        "x",
        "--environment",
        "sandbox",
        code=2,
    )  # no such user in the sandbox yet
    cli("sandbox", "reset", "--org", "acme", "--yes")
    key = json.loads(
        cli(
            "key",
            "create",
            "--org",
            "acme",
            "--user",
            "ops",
            "--label",
            "sb",
            "--environment",
            "sandbox",
            "--json",
        ).stdout
    )["key"]
    assert key.startswith("pfk_test_")
    body = client.get("/api/whoami", headers={"Authorization": f"Bearer {key}"}).json()
    assert body["environment"] == "sandbox"


def test_errors_name_the_problem(cli):
    result = cli(
        "user",
        "create",
        "--org",
        "nosuch",
        "--login",
        "x",
        "--email",
        "x@y.z",
        "--password",
        "pw",
        code=1,
    )
    assert "planfeed org create nosuch" in result.output
    cli("org", "create", "acme")
    result = cli("key", "create", "--org", "acme", "--user", "ghost", "--label", "x", code=2)
    assert "no user 'ghost'" in result.output
