"""Two organisations, and live against sandbox: nothing crosses, whatever the query."""

import pytest
from sqlalchemy import func, select, update

from planfeed.accounts.models import Role, User
from planfeed.db.base import Environment
from planfeed.db.scope import ScopeViolation
from planfeed.plans.models import Plan


@pytest.fixture
def tenants(make_tenant):
    acme, globex = make_tenant("acme"), make_tenant("globex")
    for tenant in (acme, globex):
        for environment in Environment:
            tenant.user(f"{tenant.name}-{environment.value}", Role.SUPER_ADMIN, environment)
            with tenant.session(environment) as session, session.begin():
                session.add(Plan(name=f"{tenant.name} {environment.value} plan"))
    return acme, globex


def test_each_scope_sees_only_its_rows(tenants):
    for tenant in tenants:
        for environment in Environment:
            with tenant.session(environment) as session:
                logins = session.scalars(select(User.login)).all()
                plans = session.scalars(select(Plan.name)).all()
                joined = session.scalar(
                    select(func.count()).select_from(User).join(Plan, Plan.owner_id.is_(None))
                )
            assert logins == [f"{tenant.name}-{environment.value}"]
            assert plans == [f"{tenant.name} {environment.value} plan"]
            assert joined == 1


def test_get_by_primary_key_of_another_scope_finds_nothing(tenants):
    acme, globex = tenants
    with globex.session() as session:
        globex_plan_id = session.scalar(select(Plan.id))
    with acme.session() as session:
        assert session.execute(select(Plan).where(Plan.id == globex_plan_id)).first() is None


def test_bulk_update_stays_in_scope(tenants):
    acme, _globex = tenants
    with acme.session(Environment.SANDBOX) as session, session.begin():
        session.execute(update(Plan).values(name="renamed"))
    for tenant in tenants:
        for environment in Environment:
            with tenant.session(environment) as session:
                name = session.scalar(select(Plan.name))
            renamed = tenant is acme and environment is Environment.SANDBOX
            assert (name == "renamed") == renamed


def test_writing_into_another_scope_is_refused(tenants):
    acme, globex = tenants
    with acme.session() as session:
        session.add(
            Plan(name="smuggled", organisation_id=globex.organisation_id, environment="live")
        )
        with pytest.raises(ScopeViolation):
            session.flush()
    with acme.session() as session:
        session.add(Plan(name="smuggled", environment="sandbox"))
        with pytest.raises(ScopeViolation):
            session.flush()


def test_keys_resolve_to_their_own_scope(client, tenants):
    seen = set()
    for tenant in tenants:
        for environment in Environment:
            key = tenant.key(f"{tenant.name}-{environment.value}", environment)
            body = client.get("/api/whoami", headers={"Authorization": f"API-KEY {key}"}).json()
            assert body["organisation"] == tenant.name
            assert body["environment"] == environment.value
            prefix = "pfk_live_" if environment is Environment.LIVE else "pfk_test_"
            assert key.startswith(prefix)
            seen.add((body["organisation"], body["environment"]))
    assert len(seen) == 4
