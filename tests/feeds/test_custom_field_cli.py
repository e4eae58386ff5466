"""``planfeed field add`` defines a CF_ field that the feeds then read, filter and write."""


def test_field_add_then_use_it_through_the_feeds(admin_cli, client):
    admin_cli("org", "create", "acme")
    admin_cli(
        "user",
        "create",
        "--org",
        "acme",
        "--login",
        "ops",
        "--email",
        "o@a.example",
        "--role",
        "SuperAdmin",
        "--password",
        "correct horse battery",
    )
    key = admin_cli("key", "create", "--org", "acme", "--user", "ops", "--label", "t").output
    key = next(line for line in key.splitlines() if line.startswith("pfk_"))
    add = ("field", "add", "--org", "acme", "--module", "company")
    admin_cli(
        *add, "--name", "CF_Region", "--type", "string", "--label", "Region", "--max-length", "10"
    )
    duplicate = admin_cli(*add, "--name", "cf_region", "--type", "string", "--label", "R", code=2)
    assert "already has a field" in duplicate.output
    assert (
        "start with CF_"
        in admin_cli(*add, "--name", "Region", "--type", "string", "--label", "R", code=2).output
    )
    assert (
        "is not a type"
        in admin_cli(*add, "--name", "CF_X", "--type", "text", "--label", "R", code=2).output
    )
    assert (
        "takes no custom fields"
        in admin_cli(
            "field",
            "add",
            "--org",
            "acme",
            "--module",
            "apikey",
            "--name",
            "CF_X",
            "--type",
            "string",
            "--label",
            "R",
            code=2,
        ).output
    )
    headers = {"Authorization": f"Bearer {key}"}
    made = client.post(
        "/accessplan/api/v2/company",
        headers=headers,
        json={"Name": "North Ltd", "CF_Region": "North"},
    )
    assert made.status_code == 201, made.text
    rows = client.get(
        "/accessplan/api/v2/company?$filter=cf_region eq 'North'&$select=Name,CF_Region",
        headers=headers,
    ).json()["results"]
    assert rows == [{"Name": "North Ltd", "CF_Region": "North"}]
    live_only = client.get("/accessplan/apihelp/v2/modules/company", headers=headers).json()
    assert "CF_Region" in [f["Name"] for f in live_only["results"]]
