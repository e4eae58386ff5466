"""Export pages started from cached anchors (``plans.export.PageAnchors``) are exactly the pages
the plain OFFSET walk gives, on both databases, before and after the plan's order changes."""

import datetime as dt

import orjson
import pytest
from sqlalchemy import delete, event, select, update

from planfeed.db.scope import scope_parameters
from planfeed.plans.export import ANCHOR_EVERY, PageAnchors, export_page
from planfeed.plans.models import ITEMS, Plan, insert_item_rows
from support import add_plan

ITEMS_IN_PLAN = 2 * ANCHOR_EVERY + 437  # three anchors and a partial stretch
TODAY = dt.date(2026, 1, 1)


@pytest.fixture
def big_plan(make_tenant):
    """A plan whose sequence keys tie in threes (the id breaks the tie), inserted in an order
    that is not the tree order."""
    acme = make_tenant("acme")
    plan_id = add_plan(acme, "Big")
    scope = {"organisation_id": acme.organisation_id, "environment": "live"}
    order = sorted(range(ITEMS_IN_PLAN), key=lambda n: (n * 7919) % ITEMS_IN_PLAN)
    with acme.db.engine.begin() as connection:
        insert_item_rows(
            connection,
            [
                {
                    **scope,
                    "plan_id": plan_id,
                    "sequence_id": str(n // 3 + 1),
                    "sequence_key": f"{n // 3 + 1:06d}",
                    "external_id": f"E{n}",
                    "name": f"Item {n}",
                }
                for n in order
            ],
        )
    return acme, plan_id


def _page(tenant, plan_id, anchors, **options):
    with tenant.session() as session:
        plan = session.get(Plan, plan_id)
        page = export_page(session, plan, today=TODAY, anchors=anchors, **options)
        return page.total_count, orjson.loads(orjson.dumps(page.items))


SKIPS = (0, 999, 1000, 1001, 1499, 1500, 1999, 2000, 2001, 2436, 2437, 2500)


def _from_anchor_statements(db):
    """Collects the page statements that count from an anchor (a row-value bound)."""
    seen: list[str] = []

    def record(_connection, _cursor, sql, *_):
        if "(plan_items.sequence_key, plan_items.id) >=" in sql or (
            "(plan_items.sequence_key, plan_items.id) <=" in sql
        ):
            seen.append(sql)

    event.listen(db.engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(db.engine, "before_cursor_execute", record)


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_pages_from_anchors_equal_the_plain_walk(big_plan, db, direction):
    acme, plan_id = big_plan
    anchors = PageAnchors()
    for skip in SKIPS:
        for take in (1, 7, 1500):
            options = {"skip": skip, "take": take, "sort_direction": direction}
            plain = _page(acme, plan_id, None, **options)
            seen, stop = _from_anchor_statements(db)
            try:
                assert _page(acme, plan_id, anchors, **options) == plain, options
            finally:
                stop()
            # Pages past the first thousand items are read from an anchor (else the plain walk);
            # ascending, from the last anchor (2000) even past the end: an empty page.
            last = 3 * ANCHOR_EVERY if direction == "asc" else ITEMS_IN_PLAN
            from_anchor = ANCHOR_EVERY <= skip < last
            assert len(seen) == (1 if from_anchor else 0), options
    total, items = _page(acme, plan_id, anchors, skip=1000, take=1, sort_direction=direction)
    assert total == ITEMS_IN_PLAN
    expected_row = 1001 if direction == "asc" else ITEMS_IN_PLAN - 1000
    assert items[0]["rowNumber"] == expected_row


def test_anchors_of_an_older_order_are_never_used(big_plan, db):
    """Each change of the order (an item comes, goes or is renumbered) renews the plan's token,
    so the next page is read from new anchors, and again equals the plain walk."""
    acme, plan_id = big_plan
    anchors = PageAnchors()

    def same_pages():
        for skip in (1000, 1600, 2200):
            for direction in ("asc", "desc"):
                options = {"skip": skip, "take": 50, "sort_direction": direction}
                assert _page(acme, plan_id, anchors, **options) == _page(
                    acme, plan_id, None, **options
                ), options

    same_pages()
    scope = {"organisation_id": acme.organisation_id, "environment": "live"}
    changes = [
        lambda connection: insert_item_rows(
            connection,
            [
                {
                    **scope,
                    "plan_id": plan_id,
                    "sequence_id": "1",
                    "sequence_key": "000001",
                    "external_id": f"NEW{n}",
                    "name": f"New {n}",
                }
                for n in range(3)
            ],
        ),
        lambda connection: connection.execute(
            delete(ITEMS).where(ITEMS.c.external_id.in_([f"E{n}" for n in range(0, 300)]))
        ),
        lambda connection: connection.execute(
            update(ITEMS).where(ITEMS.c.external_id == "E500").values(sequence_key="999999")
        ),
    ]
    for change in changes:
        with db.engine.connect() as connection:
            before = connection.scalar(select(Plan.item_order_token).where(Plan.id == plan_id))
        with db.engine.begin() as connection:
            change(connection)
        with db.engine.connect() as connection:
            after = connection.scalar(select(Plan.item_order_token).where(Plan.id == plan_id))
        assert after != before
        same_pages()


def test_a_rename_keeps_the_order_token(big_plan, db):
    _acme, plan_id = big_plan
    with db.engine.connect() as connection:
        before = connection.scalar(select(Plan.item_order_token).where(Plan.id == plan_id))
    with db.engine.begin() as connection:
        connection.execute(update(ITEMS).where(ITEMS.c.external_id == "E5").values(name="Five"))
    with db.engine.connect() as connection:
        assert connection.scalar(select(Plan.item_order_token).where(Plan.id == plan_id)) == before
    assert before


def test_anchors_keep_only_the_most_recently_used_plans(big_plan):
    acme, big_id = big_plan
    with acme.session() as session, session.begin():
        others = [Plan(name=f"Other {n}") for n in range(2)]
        session.add_all(others)
        session.flush()
        plan_ids = [big_id, *(plan.id for plan in others)]
    anchors = PageAnchors(plans=2)
    with acme.session() as session:
        connection = session.connection()
        in_scope = scope_parameters(acme.principal().scope)
        plans = [session.get(Plan, plan_id) for plan_id in plan_ids]
        found = [anchors.of(connection, plan, {"plan_id": plan.id, **in_scope}) for plan in plans]
        anchors.of(connection, plans[1], {"plan_id": plans[1].id, **in_scope})  # used again
        anchors.of(connection, plans[0], {"plan_id": plans[0].id, **in_scope})  # read again
    assert len(found[0]) == 3  # positions 0, 1000, 2000
    assert found[1] == found[2] == []
    assert [key[0] for key in anchors._anchors] == [plan_ids[1], plan_ids[0]]
