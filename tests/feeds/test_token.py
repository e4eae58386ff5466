"""The feeds token endpoint on both databases: OAuth 2 answers, platforms, expiry, lockout."""

import datetime as dt
import logging
import threading
import time

import anyio
import pytest
from sqlalchemy import select, update

from planfeed.accounts.models import AccessToken, Role, User
from planfeed.accounts.service import (
    WRONG_CREDENTIALS,
    LoginPolicy,
    LoginRejected,
    authenticate_password,
)
from planfeed.audit.models import AuditEvent
from planfeed.config import Settings
from planfeed.db.base import Environment, utcnow
from planfeed.db.engine import make_sessionmaker
from planfeed.db.scope import Scope
from support import TEST_SECRET

PASSWORD = "correct horse battery staple"
PREFIXES = ["accessplan", "accessplansandbox"]


@pytest.fixture
def settings(db, tmp_path):
    """The defaults, except a slowing delay too small to slow the tests down."""
    return Settings(
        database_url=db.url,
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        run_worker=False,
        login_delay_seconds=0.001,
        login_max_delay_seconds=0.002,
    )


@pytest.fixture
def acme(make_tenant):
    tenant = make_tenant("acme")
    for environment in Environment:
        tenant.user("root", Role.SUPER_ADMIN, environment)
    return tenant


def url(prefix: str = "accessplan") -> str:
    return f"/{prefix}/api/v2/token"


def form(username: str = "root", password: str = PASSWORD, **extra: str) -> dict[str, str]:
    return {"grant_type": "password", "username": username, "password": password, **extra}


def get_token(client, prefix: str = "accessplan", **params: str):
    return client.get(url(prefix), params=form(**params))


def post_token(client, prefix: str = "accessplan", headers=None, **params: str):
    return client.post(url(prefix), data=form(**params), headers=headers)


def assert_oauth_error(response, error: str, *phrases: str) -> dict[str, str]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    for phrase in phrases:
        assert phrase in body["error_description"], body["error_description"]
    assert response.headers["cache-control"] == "no-store"
    return body


def whoami(client, token: str):
    return client.get("/api/whoami", headers={"Authorization": f"Bearer {token}"})


def failures(tenant, login: str = "root", environment: Environment = Environment.LIVE):
    with tenant.session(environment) as session:
        row = session.execute(
            select(User.failed_logins, User.locked_until).where(User.login == login)
        ).one()
    return row.failed_logins, row.locked_until


# --- success -------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_token_then_bearer(client, acme, prefix, method):
    response = (get_token if method == "GET" else post_token)(client, prefix)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert response.headers["cache-control"] == "no-store"
    me = whoami(client, body["access_token"])
    assert me.status_code == 200, me.text
    environment = "sandbox" if prefix == "accessplansandbox" else "live"
    assert me.json() == {
        "organisation": "acme",
        "environment": environment,
        "user": "root",
        "role": "SuperAdmin",
        "credential": "token",
    }


def test_post_takes_query_parameters_and_multipart_too(client, acme):
    response = client.post(url(), params=form())
    assert response.status_code == 200, response.text
    response = client.post(
        url(), params={"grant_type": "password"}, data={"username": "root", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    response = client.post(url(), files={name: (None, value) for name, value in form().items()})
    assert response.status_code == 200, response.text
    # the form body as the seed's clients send it, with a charset and characters to escape
    response = client.post(
        url(),
        content="grant_type=password&username=root&password=correct+horse+battery+staple",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert response.status_code == 200, response.text


def test_expires_in_follows_the_setting(app, client, acme):
    app.state.planfeed.settings.token_lifetime_seconds = 120
    before = utcnow()
    response = get_token(client)
    assert response.json()["expires_in"] == 120
    with acme.session() as session:
        expires_at = session.scalar(select(AccessToken.expires_at))
    assert before + dt.timedelta(seconds=119) <= expires_at <= utcnow() + dt.timedelta(seconds=121)


def test_token_is_stored_only_as_a_hash_and_audited(db, client, acme):
    token = get_token(client).json()["access_token"]
    with db.engine.connect() as connection:
        for table in ("access_tokens", "audit_events", "users"):
            dump = " ".join(
                str(row) for row in connection.exec_driver_sql(f"SELECT * FROM {table}")
            )
            assert token not in dump
            assert PASSWORD not in dump
    with acme.session() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.entity == "token"))
        token_id = session.scalar(select(AccessToken.id))
    assert event is not None
    assert event.action == "create"
    assert event.actor_login == "root"
    assert event.credential_kind == "password"
    assert event.entity_id == str(token_id)


def test_expired_token_is_refused(client, acme):
    token = get_token(client).json()["access_token"]
    assert whoami(client, token).status_code == 200
    with acme.session() as session, session.begin():
        session.execute(update(AccessToken).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    response = whoami(client, token)
    assert response.status_code == 401
    assert response.json()["error"] == "token_expired"


def test_token_stops_working_when_the_user_is_made_inactive_then_deleted(client, acme):
    token = get_token(client).json()["access_token"]
    assert whoami(client, token).status_code == 200
    for status in ("Inactive", "Deleted"):
        with acme.session() as session, session.begin():
            session.execute(update(User).where(User.login == "root").values(status=status))
        response = whoami(client, token)
        assert response.status_code == 401
        assert response.json()["error"] == "user_inactive"
        assert status in response.json()["message"]


@pytest.mark.parametrize("status", ["Inactive", "Deleted"])
def test_inactive_user_gets_no_token(client, acme, status):
    with acme.session() as session, session.begin():
        session.execute(update(User).where(User.login == "root").values(status=status))
    assert_oauth_error(get_token(client), "invalid_grant", status)
    body = assert_oauth_error(get_token(client, password="wrong"), "invalid_grant")
    assert body["error_description"] == WRONG_CREDENTIALS


def test_sandbox_user_signs_in_on_the_sandbox_path_only(client, make_tenant):
    tenant = make_tenant("globex")
    tenant.user("tester", environment=Environment.SANDBOX)
    assert get_token(client, "accessplansandbox", username="tester").status_code == 200
    assert_oauth_error(get_token(client, "accessplan", username="tester"), "invalid_grant")


# --- OAuth 2 errors ------------------------------------------------------------------------------


def test_wrong_password_and_unknown_user_are_one_answer(client, acme):
    wrong = assert_oauth_error(get_token(client, password="wrong"), "invalid_grant")
    unknown = assert_oauth_error(get_token(client, username="nobody"), "invalid_grant")
    assert wrong == unknown == {"error": "invalid_grant", "error_description": WRONG_CREDENTIALS}
    posted = assert_oauth_error(post_token(client, password="wrong"), "invalid_grant")
    assert posted == wrong


@pytest.mark.parametrize("username", ["a\x00b", "x" * 101, "ünïcødé user", "root' OR '1'='1"])
def test_impossible_user_ids_are_a_plain_invalid_grant(client, acme, globex, username):
    for response in (get_token(client, username=username), post_token(client, username=username)):
        body = assert_oauth_error(response, "invalid_grant")
        assert body["error_description"] == WRONG_CREDENTIALS
    with acme.session() as session, session.begin():
        session.execute(update(User).values(login="x" * 100))
    assert get_token(client, username="x" * 100).status_code == 200


@pytest.mark.parametrize("grant_type", ["client_credentials", "PASSWORD", "refresh_token"])
def test_other_grant_types_are_unsupported(client, acme, grant_type):
    for response in (
        get_token(client, grant_type=grant_type),
        post_token(client, grant_type=grant_type),
    ):
        assert_oauth_error(response, "unsupported_grant_type", repr(grant_type), "password")


@pytest.mark.parametrize("missing", ["grant_type", "username", "password"])
def test_missing_parameter_is_named(client, acme, missing):
    params = form()
    del params[missing]
    assert_oauth_error(client.get(url(), params=params), "invalid_request", f"{missing} is missing")
    assert_oauth_error(client.post(url(), data=params), "invalid_request", f"{missing} is missing")
    params[missing] = ""  # an empty value counts as missing (RFC 6749 §3.1)
    assert_oauth_error(client.post(url(), data=params), "invalid_request", f"{missing} is missing")


def test_no_parameters_at_all(client, acme):
    assert_oauth_error(client.get(url()), "invalid_request", "grant_type is missing")
    assert_oauth_error(client.post(url()), "invalid_request", "grant_type is missing")


def test_conflicting_repeated_parameter(client, acme):
    response = client.post(url(), params={"username": "someone"}, data=form())
    assert_oauth_error(response, "invalid_request", "username is given more than once")
    same = client.post(url(), params={"username": "root"}, data=form())
    assert same.status_code == 200


def test_body_of_another_type_is_refused_with_the_right_form(client, acme):
    response = client.post(url(), json=form())
    assert_oauth_error(response, "invalid_request", "application/x-www-form-urlencoded")


def test_oversized_body(client, acme):
    response = client.post(url(), data=form(password="x" * 20_000))
    assert_oauth_error(response, "invalid_request", "larger than")


def test_unknown_prefix(client, acme):
    response = client.get("/accessplanit/api/v2/token", params=form())
    assert response.status_code == 400
    assert "accessplan" in response.json()["message"]


# --- which organisation --------------------------------------------------------------------------


@pytest.fixture
def globex(make_tenant):
    tenant = make_tenant("globex")
    tenant.user("gadmin", Role.ADMIN)
    return tenant


def test_without_subdomain_the_login_decides(client, acme, globex):
    token = get_token(client, username="gadmin").json()["access_token"]
    assert whoami(client, token).json()["organisation"] == "globex"
    token = get_token(client, username="root").json()["access_token"]
    assert whoami(client, token).json()["organisation"] == "acme"


def test_login_on_several_platforms_needs_the_subdomain(client, acme, globex):
    globex.user("root", Role.USER)
    response = client.get(url(), params=form(), headers={"Host": "localhost:8000"})
    assert_oauth_error(
        response, "invalid_request", "more than one platform", "<platform>.localhost:8000"
    )
    for platform in ("acme", "globex"):
        response = client.get(url(), params=form(), headers={"Host": f"{platform}.localhost"})
        assert response.status_code == 200, response.text
        assert whoami(client, response.json()["access_token"]).json()["organisation"] == platform


def test_subdomain_decides_and_unknown_platform_is_a_plain_invalid_grant(client, acme, globex):
    on_globex = {"Host": "globex.localhost:8000"}
    wrong_place = client.get(url(), params=form(), headers=on_globex)  # root is acme's
    unknown_platform = client.get(url(), params=form(), headers={"Host": "initech.localhost"})
    wrong_password = get_token(client, password="nope")
    bodies = [
        assert_oauth_error(response, "invalid_grant")
        for response in (wrong_place, unknown_platform, wrong_password)
    ]
    assert bodies[0] == bodies[1] == bodies[2]
    response = client.get(url(), params=form(username="gadmin"), headers=on_globex)
    assert response.status_code == 200


def test_base_domain_subdomain(app, client, acme, globex):
    app.state.planfeed.settings.base_domain = "planfeed.example.com"
    on_globex = {"Host": "globex.planfeed.example.com"}
    assert_oauth_error(client.get(url(), params=form(), headers=on_globex), "invalid_grant")
    assert client.get(url(), params=form(username="gadmin"), headers=on_globex).status_code == 200


# --- slowing and lockout -------------------------------------------------------------------------


def test_delay_grows_and_is_capped():
    policy = LoginPolicy(slow_after=3, delay_seconds=0.5, max_delay_seconds=2.0)
    assert [policy.delay_for(n) for n in range(8)] == [0, 0, 0, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert policy.delay_for(10_000) == 2.0


def test_lockout_after_five_failures(client, acme):
    for attempt in range(1, 5):
        body = assert_oauth_error(get_token(client, password="wrong"), "invalid_grant")
        assert body["error_description"] == WRONG_CREDENTIALS
        assert failures(acme)[0] == attempt
    fifth = get_token(client, password="wrong")
    assert_oauth_error(fifth, "invalid_grant", "locked after 5 failed sign-ins until")
    retry_after = int(fifth.headers["retry-after"])
    assert 890 <= retry_after <= 900
    count, locked_until = failures(acme)
    assert count == 5
    assert locked_until > utcnow() + dt.timedelta(minutes=14)

    # the right password is refused while locked, and nothing more is counted
    locked = get_token(client)
    assert_oauth_error(locked, "invalid_grant", "locked after too many failed sign-ins until")
    assert locked_until.strftime("%Y-%m-%dT%H:%M:%S") in locked.json()["error_description"]
    assert 0 < int(locked.headers["retry-after"]) <= 900
    assert failures(acme)[0] == 5
    # the other environment's account is another account
    assert get_token(client, "accessplansandbox").status_code == 200

    # once the lock has passed, one more failure locks again at once
    with acme.session() as session, session.begin():
        session.execute(update(User).values(locked_until=utcnow() - dt.timedelta(seconds=1)))
    assert_oauth_error(get_token(client, password="wrong"), "invalid_grant", "locked")
    assert_oauth_error(get_token(client), "invalid_grant", "locked")

    # after the lock, the right password works and resets the counter
    with acme.session() as session, session.begin():
        session.execute(update(User).values(locked_until=utcnow() - dt.timedelta(seconds=1)))
    assert get_token(client).status_code == 200
    assert failures(acme) == (0, None)


def test_success_resets_the_counter(client, acme):
    for _ in range(4):
        get_token(client, password="wrong")
    assert failures(acme)[0] == 4
    assert get_token(client).status_code == 200
    assert failures(acme) == (0, None)
    for _ in range(4):
        assert_oauth_error(get_token(client, password="wrong"), "invalid_grant", "wrong")
    assert get_token(client).status_code == 200


def test_attempts_after_three_failures_are_slowed(app, client, acme):
    app.state.planfeed.settings.login_delay_seconds = 0.3
    app.state.planfeed.settings.login_max_delay_seconds = 0.6
    for _ in range(3):
        get_token(client, password="wrong")
    started = time.monotonic()
    get_token(client, password="wrong")
    fourth = time.monotonic() - started
    started = time.monotonic()
    assert get_token(client).status_code == 200  # slowed too: the delay comes before the check
    fifth = time.monotonic() - started
    assert fourth >= 0.3
    assert fifth >= 0.6
    started = time.monotonic()
    assert get_token(client).status_code == 200
    assert time.monotonic() - started < fourth + fifth  # the counter was reset


def test_slowing_does_not_block_other_requests(app, client, acme):
    app.state.planfeed.settings.login_delay_seconds = 1.5
    app.state.planfeed.settings.login_max_delay_seconds = 1.5
    for _ in range(3):
        get_token(client, password="wrong")
    slow = threading.Thread(target=get_token, args=(client,), kwargs={"password": "wrong"})
    slow.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert client.get("/healthz").status_code == 200
    elapsed = time.monotonic() - started
    slow.join()
    assert elapsed < 1.0


def run_attempts(engine, scope, policy, attempts, outcomes, lock):
    writer = make_sessionmaker(engine, writer=True)
    for _ in range(attempts):
        try:
            anyio.run(authenticate_password, writer, scope, "root", "wrong", policy)
        except LoginRejected as exc:
            with lock:
                outcomes.append(exc.reason)


def run_threads(db, acme, policy, threads, attempts):
    scope = Scope(acme.organisation_id, Environment.LIVE)
    outcomes: list[str] = []
    lock = threading.Lock()
    workers = [
        threading.Thread(
            target=run_attempts, args=(db.engine, scope, policy, attempts, outcomes, lock)
        )
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcomes


def test_concurrent_failures_are_all_counted(db, acme):
    policy = LoginPolicy(lock_after=1000, delay_seconds=0, max_delay_seconds=0)
    outcomes = run_threads(db, acme, policy, threads=6, attempts=3)
    assert outcomes == ["invalid"] * 18
    assert failures(acme) == (18, None)


def test_a_concurrent_burst_cannot_pass_the_lockout(db, acme):
    policy = LoginPolicy(lock_after=5, delay_seconds=0, max_delay_seconds=0)
    outcomes = run_threads(db, acme, policy, threads=6, attempts=2)
    assert len(outcomes) == 12
    # five attempts are counted (the fifth locks and is answered "locked"); the rest find the lock
    assert outcomes.count("invalid") == 4
    assert outcomes.count("locked") == 8
    count, locked_until = failures(acme)
    assert count == 5
    assert locked_until is not None


def test_passwords_in_urls_are_hidden_in_the_access_log(app, caplog):
    logger = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logger.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            "/accessplan/api/v2/token?grant_type=password&username=root&password=s3cr%21t&x=1",
            "1.1",
            200,
        )
        logger.info("GET /accessplan/api/v2/token?Password=plain")
    text = caplog.text
    assert "s3cr" not in text
    assert "plain" not in text
    assert "username=root&password=***&x=1" in text
