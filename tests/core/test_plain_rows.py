"""``db.rows.plain_rows`` gives the values SQLAlchemy's own rows give, on both databases."""

import datetime as dt

from sqlalchemy import event, select

from planfeed.db.rows import plain_rows
from planfeed.plans.models import ITEM_PROGRESS, ITEMS, insert_item_rows
from support import add_plan


def test_plain_rows_convert_as_sqlalchemy_does_and_are_seen_by_engine_events(db, make_tenant):
    acme = make_tenant("acme")
    plan_id = add_plan(acme)
    scope = {"organisation_id": acme.organisation_id, "environment": "live"}
    with db.engine.begin() as connection:
        insert_item_rows(
            connection,
            [
                {
                    **scope, "plan_id": plan_id, "sequence_id": str(n),
                    "sequence_key": f"{n:06d}", "external_id": f"E{n}", "name": f"Item {n}",
                    "has_metric": n % 2 == 0, "baseline": n / 4 if n % 3 else None,
                    "start_date": dt.date(2025, 1, n), "last_update_on": dt.date(2025, 2, n),
                    "current_value": 0.1 * n,
                }
                for n in range(1, 6)
            ],
        )  # fmt: skip
    statement = (
        select(
            ITEMS.c.id, ITEMS.c.has_metric, ITEMS.c.baseline, ITEMS.c.start_date,
            ITEMS.c.created_at, ITEM_PROGRESS.c.updated_at, ITEM_PROGRESS.c.current_value,
            ITEM_PROGRESS.c.last_update_on, ITEMS.c.name,
        )
        .join(ITEM_PROGRESS, ITEM_PROGRESS.c.item_id == ITEMS.c.id)
        .order_by(ITEMS.c.id)
    )  # fmt: skip
    seen = []

    def record(_connection, _cursor, sql, *_):
        seen.append(sql)

    with db.engine.connect() as connection:
        expected = [tuple(row) for row in connection.execute(statement).all()]
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            rows = plain_rows(connection, statement)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    assert rows == expected
    assert [type(value) for value in rows[0]] == [type(value) for value in expected[0]]
    assert rows[1][1] is True
    assert rows[0][1] is False
    assert rows[0][4].tzinfo is not None
    assert len(seen) == 1
    assert "plan_items" in seen[0]
