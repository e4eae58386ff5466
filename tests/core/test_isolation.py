"""Two organisations, and live against sandbox: nothing crosses, whatever the query."""

import datetime as dt

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from planfeed.accounts.models import Role, User
from planfeed.db.base import Environment
from planfeed.db.scope import ScopeViolation
from planfeed.plans.models import ITEM_PROGRESS, MetricUpdate, Plan, PlanItem, ProgressUpdate


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


@pytest.mark.parametrize(
    "table", [ProgressUpdate.__table__, MetricUpdate.__table__, ITEM_PROGRESS], ids=lambda t: t.name
)
def test_an_items_rows_cannot_take_another_scope(tenants, db, table):
    """The database itself refuses a history or progress row whose organisation or environment
    is not its item's (the item key), whatever code writes it."""
    acme, globex = tenants
    with acme.session() as session, session.begin():
        plan_id = session.scalar(select(Plan.id))
        item = PlanItem(plan_id=plan_id, sequence_id="1", sequence_key="000001", name="One")
        session.add(item)
        session.flush()
        item_id = item.id
    values = {
        "status": 0,
        "value": 1.0,
        "as_of": dt.date(2025, 1, 1),
        "source": "api",
        "created_at": dt.datetime.now(dt.UTC),
    }
    columns = {name: value for name, value in values.items() if name in table.c}
    if table is ITEM_PROGRESS:
        with db.engine.begin() as connection:  # the item's own progress row goes first
            connection.execute(delete(table).where(table.c.item_id == item_id))
    for organisation_id, environment in (
        (globex.organisation_id, Environment.LIVE.value),
        (acme.organisation_id, Environment.SANDBOX.value),
    ):
        with pytest.raises(IntegrityError), db.engine.begin() as connection:
            connection.execute(
                insert(table).values(
                    item_id=item_id,
                    organisation_id=organisation_id,
                    environment=environment,
                    **columns,
                )
            )
    with db.engine.begin() as connection:  # the item's own scope is accepted
        connection.execute(
            insert(table).values(
                item_id=item_id,
                organisation_id=acme.organisation_id,
                environment=Environment.LIVE.value,
                **columns,
            )
        )
