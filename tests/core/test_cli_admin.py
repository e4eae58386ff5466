"""The admin CLI against a real database (both backends), via typer's runner."""

import json


def test_org_user_key_lifecycle(admin_cli, client):
    admin_cli("migrate")
    admin_cli("org", "create", "acme", "--display-name", "Acme Ltd")
    admin_cli("org", "create", "acme", code=2)
    admin_cli("org", "create", "Not A Name", code=2)
    admin_cli(
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
        admin_cli(
            "key", "create", "--org", "acme", "--user", "ops", "--label", "ERP", "--json"
        ).stdout
    )
    assert created["key"].startswith("pfk_live_")
    headers = {"Authorization": f"API-KEY {created['key']}"}
    assert client.get("/api/whoami", headers=headers).json()["user"] == "ops"

    listed = json.loads(admin_cli("key", "list", "--org", "acme", "--json").stdout)
    assert [row["label"] for row in listed] == ["ERP"]
    assert created["key"] not in json.dumps(listed)

    admin_cli("key", "disable", str(created["id"]), "--org", "acme")
    assert client.get("/api/whoami", headers=headers).json()["error"] == "key_disabled"
    admin_cli("key", "enable", str(created["id"]), "--org", "acme")
    assert client.get("/api/whoami", headers=headers).status_code == 200
    admin_cli("key", "disable", "9999", "--org", "acme", code=2)


def test_sandbox_key_and_reset(admin_cli, client):
    admin_cli("org", "create", "acme")
    admin_cli(
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
    admin_cli(
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
    admin_cli("sandbox", "reset", "--org", "acme", "--yes")
    key = json.loads(
        admin_cli(
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


def test_errors_name_the_problem(admin_cli):
    result = admin_cli(
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
    admin_cli("org", "create", "acme")
    result = admin_cli("key", "create", "--org", "acme", "--user", "ghost", "--label", "x", code=2)
    assert "no user 'ghost'" in result.output
