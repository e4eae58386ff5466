"""``plans.item_count`` follows every way an item comes or goes (triggers, migration 0008), on
both databases: the export's totalCount reads it."""

from sqlalchemy import delete, func, insert, select, update

from planfeed.accounts.models import Role
from planfeed.db.base import Tenant
from planfeed.db.sandbox import reset_sandbox
from planfeed.plans.models import ITEMS, Plan, PlanItem, insert_item_rows
from support import add_plan


def _item(plan_id, number, **values):
    return {
        "plan_id": plan_id,
        "sequence_id": str(number),
        "sequence_key": f"{number:06d}",
        "external_id": f"E{plan_id}-{number}",
        "name": f"Item {number}",
        **values,
    }


def _counts(db):
    """Each plan's stored count beside its real count."""
    with db.engine.connect() as connection:
        stored = dict(connection.execute(select(Plan.id, Plan.item_count)).all())
        real = dict(
            connection.execute(
                select(ITEMS.c.plan_id, func.count()).group_by(ITEMS.c.plan_id)
            ).all()
        )
    return stored, {plan_id: real.get(plan_id, 0) for plan_id in stored}


def test_orm_adds_and_deletes_are_counted(db, make_tenant):
    acme = make_tenant("acme")
    plan_id = add_plan(acme)
    with acme.session() as session, session.begin():
        session.add_all([PlanItem(**_item(plan_id, n)) for n in range(1, 4)])
    assert _counts(db) == ({plan_id: 3}, {plan_id: 3})
    with acme.session() as session, session.begin():
        session.delete(session.scalars(select(PlanItem).where(PlanItem.name == "Item 2")).one())
    assert _counts(db) == ({plan_id: 2}, {plan_id: 2})


def test_bulk_loads_count_each_plan_once_per_item(db, make_tenant):
    """One multi-row statement naming two plans (PostgreSQL counts per statement, by plan)."""
    acme = make_tenant("acme")
    first, second = add_plan(acme, "First"), add_plan(acme, "Second")
    scope = {"organisation_id": acme.organisation_id, "environment": "live"}
    with db.engine.begin() as connection:
        insert_item_rows(
            connection,
            [{**_item(first, n), **scope} for n in range(1, 1201)]
            + [{**_item(second, n), **scope} for n in range(1, 6)],
        )
    stored, real = _counts(db)
    assert stored == real == {first: 1200, second: 5}
    with db.engine.begin() as connection:
        connection.execute(delete(ITEMS).where(ITEMS.c.sequence_key > "000100"))
    stored, real = _counts(db)
    assert stored == real == {first: 100, second: 5}


def test_a_rolled_back_insert_is_not_counted(db, make_tenant):
    acme = make_tenant("acme")
    plan_id = add_plan(acme)
    scope = {"organisation_id": acme.organisation_id, "environment": "live"}
    with db.engine.begin() as connection:
        insert_item_rows(connection, [{**_item(plan_id, n), **scope} for n in (1, 2)])
    with db.engine.connect() as connection, connection.begin() as transaction:
        insert_item_rows(connection, [{**_item(plan_id, 3), **scope}])
        transaction.rollback()
    assert _counts(db) == ({plan_id: 2}, {plan_id: 2})


def test_an_item_moved_to_another_plan_moves_its_count(db, make_tenant):
    acme = make_tenant("acme")
    first, second = add_plan(acme, "First"), add_plan(acme, "Second")
    scope = {"organisation_id": acme.organisation_id, "environment": "live"}
    with db.engine.begin() as connection:
        ids = insert_item_rows(connection, [{**_item(first, n), **scope} for n in (1, 2)])
        connection.execute(update(ITEMS).where(ITEMS.c.id == ids[0]).values(plan_id=second))
        connection.execute(update(ITEMS).where(ITEMS.c.id == ids[1]).values(name="renamed"))
    stored, real = _counts(db)
    assert stored == real == {first: 1, second: 1}


def test_deleting_a_plan_or_an_organisation_leaves_other_counts_alone(db, make_tenant):
    acme, globex = make_tenant("acme"), make_tenant("globex")
    gone, kept, other = add_plan(acme, "Gone"), add_plan(acme, "Kept"), add_plan(globex, "Other")
    with db.engine.begin() as connection:
        for tenant, plan_id in ((acme, gone), (acme, kept), (globex, other)):
            scope = {"organisation_id": tenant.organisation_id, "environment": "live"}
            insert_item_rows(connection, [{**_item(plan_id, n), **scope} for n in (1, 2, 3)])
        connection.execute(delete(Plan).where(Plan.id == gone))
    stored, real = _counts(db)
    assert stored == real == {kept: 3, other: 3}
    with db.engine.begin() as connection:
        connection.execute(delete(Tenant).where(Tenant.id == acme.organisation_id))
    stored, real = _counts(db)
    assert stored == real == {other: 3}


def test_a_sandbox_reset_counts_the_copied_items(db, make_tenant):
    acme = make_tenant("acme")
    acme.user("root", Role.SUPER_ADMIN)
    live = add_plan(acme)
    scope = {"organisation_id": acme.organisation_id, "environment": "live"}
    with db.engine.begin() as connection:
        insert_item_rows(connection, [{**_item(live, n), **scope} for n in range(1, 8)])
    for _ in range(2):  # the second reset deletes the first copy
        with db.engine.begin() as connection:
            reset_sandbox(connection, acme.organisation_id)
        stored, real = _counts(db)
        assert stored == real
        assert sorted(stored.values()) == [7, 7]


def test_a_raw_insert_without_the_orm_is_counted(db, make_tenant):
    """Triggers, not ORM events: a plain Core insert counts too."""
    acme = make_tenant("acme")
    plan_id = add_plan(acme)
    scope = {"organisation_id": acme.organisation_id, "environment": "live"}
    with db.engine.begin() as connection:
        connection.execute(insert(ITEMS), [{**_item(plan_id, n), **scope} for n in (1, 2)])
    assert _counts(db) == ({plan_id: 2}, {plan_id: 2})
