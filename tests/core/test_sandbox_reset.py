"""``planfeed sandbox reset`` copies live into the sandbox, as often as asked, on both databases."""

import datetime as dt

from sqlalchemy import select

from planfeed.accounts.models import Role, User
from planfeed.db.base import Environment
from planfeed.db.sandbox import reset_sandbox
from planfeed.plans.models import Plan, PlanItem, ProgressUpdate


def _live_plan(tenant):
    """A parent and a child item (a self-reference), with progress values and history."""
    with tenant.session() as session, session.begin():
        user = session.scalar(select(User).where(User.login == "root"))
        plan = Plan(name="Plan")
        session.add(plan)
        session.flush()
        parent = PlanItem(
            plan_id=plan.id, sequence_id="1", sequence_key="000001", external_id="P", name="P"
        )
        session.add(parent)
        session.flush()
        child = PlanItem(
            plan_id=plan.id,
            parent_id=parent.id,
            sequence_id="1.1",
            sequence_key="000001.000001",
            external_id="C",
            name="C",
            status=3,
            current_value=4.5,
            last_update_on=dt.date(2025, 5, 1),
            last_update_comment="on it",
            last_progress_user_id=user.id,
            updates_count=2,
        )
        session.add(child)
        session.flush()
        session.add(
            ProgressUpdate(item_id=child.id, status=3, value=4.5, as_of=dt.date(2025, 5, 1))
        )


def _items(tenant, environment):
    with tenant.session(environment) as session:
        rows = session.scalars(select(PlanItem).order_by(PlanItem.sequence_key)).all()
        parents = {item.id: item.external_id for item in rows}
        users = {user.id: user.login for user in session.scalars(select(User))}
        return [
            (
                item.external_id,
                parents.get(item.parent_id),
                item.status,
                item.current_value,
                item.last_update_on,
                item.last_update_comment,
                users.get(item.last_progress_user_id),
                item.updates_count,
            )
            for item in rows
        ]


def test_reset_twice_copies_items_with_their_progress(db, make_tenant):
    """The second reset first removes the sandbox's parent and child items (which a
    restricting self-reference would refuse one row at a time), then copies again; every item
    keeps its progress values, its parent and its last progress user, under new ids."""
    acme = make_tenant("acme")
    acme.user("root", Role.SUPER_ADMIN)
    _live_plan(acme)
    live = _items(acme, Environment.LIVE)
    assert live[1] == ("C", "P", 3, 4.5, dt.date(2025, 5, 1), "on it", "root", 2)
    for _ in range(2):
        with db.engine.begin() as connection:
            copied = reset_sandbox(connection, acme.organisation_id)
        assert copied["plan_items"] == copied["plan_item_progress"] == 2
        assert copied["progress_updates"] == 1
        assert _items(acme, Environment.SANDBOX) == live
    assert _items(acme, Environment.LIVE) == live
    with acme.session(Environment.SANDBOX) as session:
        sandbox_ids = set(session.scalars(select(PlanItem.id)))
        history = session.scalars(select(ProgressUpdate.item_id)).all()
    with acme.session() as session:
        live_ids = set(session.scalars(select(PlanItem.id)))
    assert not sandbox_ids & live_ids
    assert set(history) <= sandbox_ids
