"""Environments by path prefix and platforms by subdomain: which credentials fit a feeds path.

The HTTP tests go through a small probe router that uses ``FeedsPrincipal`` and
``FeedsSession`` exactly as the feeds routes do.
"""

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from planfeed.accounts.models import Role, Team, User
from planfeed.accounts.service import issue_token
from planfeed.auth.authenticate import AuthError
from planfeed.auth.platform import FeedPrefix, check_credential_fits, platform_from_host
from planfeed.auth.principal import Principal
from planfeed.config import Settings
from planfeed.db.base import Environment
from planfeed.http.deps import FeedsPrincipal, FeedsSession
from planfeed.http.errors import ApiError
from support import TEST_SECRET

probe = APIRouter()


@probe.get("/{prefix}/probe/v2/probe")
def probe_get(prefix: FeedPrefix, principal: FeedsPrincipal) -> dict[str, str]:
    return {
        "prefix": prefix.value,
        "organisation": principal.organisation_name,
        "environment": principal.environment.value,
        "user": principal.login,
    }


@probe.post("/{prefix}/probe/v2/probe/teams/{name}")
def probe_write(prefix: FeedPrefix, name: str, session: FeedsSession) -> dict[str, str]:
    session.add(Team(name=name))
    session.flush()
    if name.startswith("fail"):
        raise ApiError(400, "invalid", "asked to fail after writing")
    return {"created": name}


@pytest.fixture
def feeds_client(app):
    app.include_router(probe)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield client


@pytest.fixture
def acme(make_tenant):
    tenant = make_tenant("acme")
    tenant.user("root", Role.SUPER_ADMIN)
    tenant.user("root", Role.SUPER_ADMIN, Environment.SANDBOX)
    return tenant


@pytest.fixture
def demo(make_tenant):
    tenant = make_tenant("demo")
    tenant.user("admin", Role.SUPER_ADMIN)
    return tenant


def bearer(credential: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}", **headers}


def token_for(tenant, login: str, environment: Environment = Environment.LIVE) -> str:
    with tenant.session(environment) as session, session.begin():
        user = session.scalar(select(User).where(User.login == login))
        return issue_token(session, TEST_SECRET, user, 3600)[1]


def assert_401(response, code: str, *phrases: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == code
    for phrase in phrases:
        assert phrase in body["message"], body["message"]
    assert response.headers["www-authenticate"]


# --- pure functions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "base_domain", "expected"),
    [
        ("demo.localhost", None, "demo"),
        ("demo.localhost:8000", None, "demo"),
        ("DEMO.LocalHost:8000", None, "demo"),
        ("demo.localhost.", None, "demo"),
        ("localhost", None, None),
        ("localhost:8000", None, None),
        ("a.b.localhost", None, None),
        ("127.0.0.1", None, None),
        ("127.0.0.1:8000", None, None),
        ("[::1]:8000", None, None),
        ("::1", None, None),
        ("testserver", None, None),
        ("", None, None),
        (None, None, None),
        ("demo.planfeed.example.com", None, None),
        ("demo.planfeed.example.com", "planfeed.example.com", "demo"),
        ("demo.planfeed.example.com:443", "planfeed.example.com", "demo"),
        ("planfeed.example.com", "planfeed.example.com", None),
        ("x.demo.planfeed.example.com", "planfeed.example.com", None),
        ("demo.elsewhere.example.com", "planfeed.example.com", None),
        ("demo.localhost", "planfeed.example.com", "demo"),
        ("10.0.0.7", "planfeed.example.com", None),
    ],
)
def test_platform_from_host(host, base_domain, expected):
    assert platform_from_host(host, base_domain) == expected


def test_prefix_environment():
    assert FeedPrefix.LIVE.environment is Environment.LIVE
    assert FeedPrefix.SANDBOX.environment is Environment.SANDBOX
    assert FeedPrefix("accessplansandbox") is FeedPrefix.SANDBOX
    assert str(FeedPrefix.LIVE) == "accessplan"


def principal(environment: Environment, organisation: str = "acme") -> Principal:
    return Principal(1, organisation, environment, 1, "root", "SuperAdmin", "api_key", 1)


def test_check_credential_fits():
    check_credential_fits(principal(Environment.LIVE), Environment.LIVE, None)
    check_credential_fits(principal(Environment.SANDBOX), Environment.SANDBOX, "acme")
    with pytest.raises(AuthError) as caught:
        check_credential_fits(principal(Environment.SANDBOX), Environment.LIVE, None)
    assert caught.value.code == "wrong_environment"
    assert caught.value.status == 401
    assert "sandbox credential" in caught.value.message
    assert "/accessplansandbox/api/v2/" in caught.value.message
    with pytest.raises(AuthError) as caught:
        check_credential_fits(principal(Environment.LIVE), Environment.SANDBOX, None)
    assert "live credential" in caught.value.message
    assert "/accessplan/api/v2/" in caught.value.message
    with pytest.raises(AuthError) as caught:
        check_credential_fits(principal(Environment.LIVE), Environment.LIVE, "demo")
    assert caught.value.code == "wrong_platform"
    assert "belongs to platform 'acme', not 'demo'" in caught.value.message


def test_base_domain_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("PLANFEED_BASE_DOMAIN", "Planfeed.Example.com.")
    assert Settings(data_dir=tmp_path).base_domain == "planfeed.example.com"
    monkeypatch.setenv("PLANFEED_BASE_DOMAIN", "https://planfeed.example.com")
    with pytest.raises(ValueError, match="bare host name"):
        Settings(data_dir=tmp_path)


# --- through the app ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["key", "token"])
def test_credential_works_in_its_own_environment_only(feeds_client, acme, kind):
    live = acme.key("root") if kind == "key" else token_for(acme, "root")
    sandbox = (
        acme.key("root", Environment.SANDBOX)
        if kind == "key"
        else token_for(acme, "root", Environment.SANDBOX)
    )
    ok = feeds_client.get("/accessplan/probe/v2/probe", headers=bearer(live))
    assert ok.status_code == 200, ok.text
    assert ok.json() == {
        "prefix": "accessplan",
        "organisation": "acme",
        "environment": "live",
        "user": "root",
    }
    ok = feeds_client.get("/accessplansandbox/probe/v2/probe", headers=bearer(sandbox))
    assert ok.json()["environment"] == "sandbox"

    assert_401(
        feeds_client.get("/accessplan/probe/v2/probe", headers=bearer(sandbox)),
        "wrong_environment",
        "sandbox credential",
        "/accessplansandbox/api/v2/",
    )
    assert_401(
        feeds_client.get("/accessplansandbox/probe/v2/probe", headers=bearer(live)),
        "wrong_environment",
        "live credential",
        "/accessplan/api/v2/",
    )


def test_api_key_scheme_is_accepted_too(feeds_client, acme):
    key = acme.key("root", Environment.SANDBOX)
    headers = {"Authorization": f"API-KEY {key}"}
    assert feeds_client.get("/accessplansandbox/probe/v2/probe", headers=headers).status_code == 200
    assert_401(feeds_client.get("/accessplan/probe/v2/probe", headers=headers), "wrong_environment")


def test_other_credential_failures_keep_their_own_code(feeds_client, acme):
    assert_401(feeds_client.get("/accessplan/probe/v2/probe"), "missing_credentials")
    assert_401(
        feeds_client.get("/accessplan/probe/v2/probe", headers=bearer("pft_nope")),
        "invalid_token",
    )


def test_subdomain_must_match_the_credential(feeds_client, acme, demo):
    acme_key, demo_key = acme.key("root"), demo.key("admin")
    on_demo = {"Host": "demo.localhost:8000"}
    assert (
        feeds_client.get("/accessplan/probe/v2/probe", headers=bearer(demo_key, **on_demo)).json()[
            "organisation"
        ]
        == "demo"
    )
    assert_401(
        feeds_client.get("/accessplan/probe/v2/probe", headers=bearer(acme_key, **on_demo)),
        "wrong_platform",
        "belongs to platform 'acme', not 'demo'",
    )
    # without a subdomain the credential decides
    for key, organisation in ((acme_key, "acme"), (demo_key, "demo")):
        for host in ("localhost:8000", "127.0.0.1:8000", "testserver"):
            response = feeds_client.get(
                "/accessplan/probe/v2/probe", headers=bearer(key, Host=host)
            )
            assert response.json()["organisation"] == organisation


def test_subdomain_of_the_configured_base_domain(app, feeds_client, acme, demo):
    acme_key = acme.key("root")
    host = {"Host": "demo.planfeed.example.com"}
    # not configured: the host is just a name, the credential decides
    assert (
        feeds_client.get("/accessplan/probe/v2/probe", headers=bearer(acme_key, **host)).json()[
            "organisation"
        ]
        == "acme"
    )
    app.state.planfeed.settings.base_domain = "planfeed.example.com"
    assert_401(
        feeds_client.get("/accessplan/probe/v2/probe", headers=bearer(acme_key, **host)),
        "wrong_platform",
    )
    acme_host = {"Host": "acme.planfeed.example.com"}
    response = feeds_client.get("/accessplan/probe/v2/probe", headers=bearer(acme_key, **acme_host))
    assert response.status_code == 200


def test_wrong_platform_is_reported_before_wrong_environment(feeds_client, acme, demo):
    sandbox_key = acme.key("root", Environment.SANDBOX)
    response = feeds_client.get(
        "/accessplan/probe/v2/probe", headers=bearer(sandbox_key, Host="demo.localhost")
    )
    assert_401(response, "wrong_platform")


def test_forwarded_host_counts_only_from_a_trusted_proxy(app, feeds_client, acme, demo):
    acme_key = acme.key("root")
    headers = bearer(acme_key, **{"X-Forwarded-Host": "demo.localhost"})
    assert feeds_client.get("/accessplan/probe/v2/probe", headers=headers).status_code == 200
    app.state.planfeed.settings.trusted_proxies = ["127.0.0.1/32"]
    assert_401(feeds_client.get("/accessplan/probe/v2/probe", headers=headers), "wrong_platform")


def test_unknown_prefix_is_refused_by_name(feeds_client, acme):
    response = feeds_client.get("/accessplanit/probe/v2/probe", headers=bearer(acme.key("root")))
    assert response.status_code == 400
    assert "accessplansandbox" in response.json()["message"]


def count_teams(tenant, environment: Environment) -> int:
    with tenant.session(environment) as session:
        return session.scalar(select(func.count()).select_from(Team))


def test_feeds_session_commits_in_the_callers_scope_and_rolls_back_on_error(feeds_client, acme):
    key = acme.key("root", Environment.SANDBOX)
    response = feeds_client.post(
        "/accessplansandbox/probe/v2/probe/teams/blue", headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    assert count_teams(acme, Environment.SANDBOX) == 1
    assert count_teams(acme, Environment.LIVE) == 0

    response = feeds_client.post(
        "/accessplansandbox/probe/v2/probe/teams/fail", headers=bearer(key)
    )
    assert response.status_code == 400
    assert count_teams(acme, Environment.SANDBOX) == 1

    response = feeds_client.post("/accessplan/probe/v2/probe/teams/red", headers=bearer(key))
    assert_401(response, "wrong_environment")
    assert count_teams(acme, Environment.LIVE) == 0
