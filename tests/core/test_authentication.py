"""Every credential rejection of the shared auth core, through the ASGI app, on both databases."""

import datetime as dt
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from planfeed.accounts.models import ApiKey, Role, User
from planfeed.accounts.service import issue_token
from planfeed.db.base import Environment, utcnow
from planfeed.db.engine import BUSY_TIMEOUT_MS, make_engine, without_lock_wait
from support import TEST_SECRET


@pytest.fixture
def tenant(make_tenant):
    tenant = make_tenant("acme")
    tenant.user("root", Role.SUPER_ADMIN)
    return tenant


def whoami(client, header):
    headers = {"Authorization": header} if header is not None else {}
    return client.get("/api/whoami", headers=headers)


def assert_rejected(response, code):
    assert response.status_code == 401, response.text
    assert response.json()["error"] == code
    assert response.json()["message"]


def test_valid_key_with_either_scheme(client, tenant):
    key = tenant.key("root")
    for header in (f"API-KEY {key}", f"Bearer {key}", f"api-key {key}"):
        response = whoami(client, header)
        assert response.status_code == 200
        assert response.json() == {
            "organisation": "acme",
            "environment": "live",
            "user": "root",
            "role": "SuperAdmin",
            "credential": "api_key",
        }


def test_missing_header(client, tenant):
    assert_rejected(whoami(client, None), "missing_credentials")
    assert_rejected(whoami(client, "   "), "missing_credentials")


@pytest.mark.parametrize("header", ["API-KEY", "Basic dXNlcjpwYXNz", "Token abc", "pfk_live_x"])
def test_malformed_header(client, tenant, header):
    assert_rejected(whoami(client, header), "malformed_authorization")


def test_unknown_key(client, tenant):
    assert_rejected(whoami(client, "API-KEY 12004478285f4f4eb21cd25e62ba5eb7"), "unknown_key")
    other = make_other_key(tenant)
    assert_rejected(whoami(client, f"API-KEY {other}"), "unknown_key")


def make_other_key(tenant):
    from planfeed.accounts.credentials import generate_api_key

    return generate_api_key(Environment.LIVE)  # well-formed, valid checksum, never stored


def test_wrong_checksum(client, tenant):
    key = tenant.key("root")
    typo = key[:-1] + ("x" if key[-1] != "x" else "y")
    assert_rejected(whoami(client, f"API-KEY {typo}"), "invalid_key_checksum")


def test_disabled_key(client, tenant):
    key = tenant.key("root")
    with tenant.session() as session, session.begin():
        session.execute(update(ApiKey).values(enabled=False))
    assert_rejected(whoami(client, f"API-KEY {key}"), "key_disabled")


def test_expired_key(client, tenant):
    key = tenant.key("root")
    with tenant.session() as session, session.begin():
        session.execute(update(ApiKey).values(expires_on=dt.date.today() - dt.timedelta(days=1)))
    assert_rejected(whoami(client, f"API-KEY {key}"), "key_expired")


@pytest.mark.parametrize("status", ["Inactive", "Deleted"])
def test_owner_not_active(client, tenant, status):
    key = tenant.key("root")
    with tenant.session() as session, session.begin():
        session.execute(update(User).values(status=status))
    response = whoami(client, f"API-KEY {key}")
    assert_rejected(response, "user_inactive")
    assert status in response.json()["message"]


def test_ip_allowlist(app, tenant):
    key = tenant.key("root", ip_allowlist=["10.1.0.0/16", "192.0.2.7"])
    for address, allowed in [("10.1.2.3", True), ("192.0.2.7", True), ("192.0.2.8", False)]:
        with TestClient(app, client=(address, 1234)) as client:
            response = whoami(client, f"API-KEY {key}")
        if allowed:
            assert response.status_code == 200
        else:
            assert_rejected(response, "address_not_allowed")


def test_forwarded_for_counts_only_from_trusted_proxy(db, tenant, tmp_path):
    from planfeed.config import Settings
    from planfeed.http.app import create_app

    key = tenant.key("root", ip_allowlist=["198.51.100.10"])
    header = {"Authorization": f"API-KEY {key}", "X-Forwarded-For": "198.51.100.10"}
    untrusted = create_app(
        Settings(database_url=db.url, data_dir=tmp_path, secret_key=TEST_SECRET), engine=db.engine
    )
    with TestClient(untrusted, client=("127.0.0.1", 1)) as client:
        assert_rejected(client.get("/api/whoami", headers=header), "address_not_allowed")
    trusted = create_app(
        Settings(
            database_url=db.url,
            data_dir=tmp_path,
            secret_key=TEST_SECRET,
            trusted_proxies=["127.0.0.1/32"],
        ),
        engine=db.engine,
    )
    with TestClient(trusted, client=("127.0.0.1", 1)) as client:
        assert client.get("/api/whoami", headers=header).status_code == 200
        spoofed = {**header, "X-Forwarded-For": "198.51.100.10, 203.0.113.9"}
        assert_rejected(client.get("/api/whoami", headers=spoofed), "address_not_allowed")


def test_tokens(client, tenant):
    with tenant.session() as session, session.begin():
        user = session.scalar(select(User).where(User.login == "root"))
        _, token = issue_token(session, TEST_SECRET, user, 3600)
    assert whoami(client, f"Bearer {token}").json()["credential"] == "token"
    assert_rejected(whoami(client, "Bearer pft_nottherealtoken"), "invalid_token")
    with tenant.session() as session, session.begin():
        user = session.scalar(select(User).where(User.login == "root"))
        _, old = issue_token(session, TEST_SECRET, user, 3600)
        from planfeed.accounts.models import AccessToken

        session.execute(update(AccessToken).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert_rejected(whoami(client, f"Bearer {old}"), "token_expired")


def test_last_used_is_recorded(client, tenant):
    key = tenant.key("root")
    assert whoami(client, f"API-KEY {key}").status_code == 200
    with tenant.session() as session:
        assert session.scalar(select(ApiKey.last_used_at)) is not None


def test_a_held_write_lock_never_holds_up_a_request(client, tenant, db):
    """SQLite: while a writer (a batch job) holds the database's write lock, a request whose
    key is due a last-used update answers at once; the update is made on a later request."""
    if db.backend != "sqlite":
        pytest.skip("only SQLite has one write lock for the whole database")
    key = tenant.key("root")
    holder = db.engine.raw_connection()
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        assert whoami(client, f"API-KEY {key}").status_code == 200
        assert time.monotonic() - started < 5  # the busy timeout is 30 s
    finally:
        holder.rollback()
        holder.close()
    with tenant.session() as session:
        assert session.scalar(select(ApiKey.last_used_at)) is None
    assert whoami(client, f"API-KEY {key}").status_code == 200
    with tenant.session() as session:
        assert session.scalar(select(ApiKey.last_used_at)) is not None


def test_a_connection_that_did_not_wait_waits_again_in_the_pool(tmp_path):
    """``without_lock_wait`` hands its connection back to the pool as it found it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'wait.db'}", pool_size=1)
    with without_lock_wait(engine) as connection:
        driver = connection.connection.driver_connection
        assert driver.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    with engine.connect() as connection:
        assert connection.connection.driver_connection is driver  # the same, from the pool
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
    engine.dispose()


def test_nothing_secret_is_stored(db, tenant):
    key = tenant.key("root")
    with db.engine.connect() as connection:
        for table in ("api_keys", "users", "audit_events"):
            dump = " ".join(
                str(row) for row in connection.exec_driver_sql(f"SELECT * FROM {table}")
            )
            assert key not in dump
            assert "correct horse battery staple" not in dump
