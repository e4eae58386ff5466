"""export performance: every plan keeps its item count, maintained by the database

``plans.item_count`` is the number of the plan's items (in the plan's own organisation and
environment, as the export counted them). The export's ``totalCount`` (seed 003)
was a count over the plan's index on every page: on PostgreSQL about 7 ms of a 100,000-item
plan's page, with the page's own O(skip) index walk a full pass over the plan per page. Now it
is one column of the plan row the export reads anyway.

Triggers on ``plan_items`` keep it, so every way an item comes or goes counts: the ORM, Core
bulk loads, sandbox resets, cascades from a deleted plan or organisation, and an item moved to
another plan. On PostgreSQL, inserts and deletes are counted once per statement (transition
tables), so a bulk load of 100,000 items updates each plan row once; SQLite has row triggers
only. A later migration that rebuilds ``plan_items`` on SQLite (``batch_alter_table``) drops
these triggers with the table and must create them again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER plan_items_counted_in AFTER INSERT ON plan_items
    BEGIN
        UPDATE plans SET item_count = item_count + 1
        WHERE id = NEW.plan_id
        AND organisation_id = NEW.organisation_id AND environment = NEW.environment;
    END
    """,
    """
    CREATE TRIGGER plan_items_counted_out AFTER DELETE ON plan_items
    BEGIN
        UPDATE plans SET item_count = item_count - 1
        WHERE id = OLD.plan_id
        AND organisation_id = OLD.organisation_id AND environment = OLD.environment;
    END
    """,
    """
    CREATE TRIGGER plan_items_counted_moved
    AFTER UPDATE OF plan_id, organisation_id, environment ON plan_items
    WHEN OLD.plan_id IS NOT NEW.plan_id OR OLD.organisation_id IS NOT NEW.organisation_id
    OR OLD.environment IS NOT NEW.environment
    BEGIN
        UPDATE plans SET item_count = item_count - 1
        WHERE id = OLD.plan_id
        AND organisation_id = OLD.organisation_id AND environment = OLD.environment;
        UPDATE plans SET item_count = item_count + 1
        WHERE id = NEW.plan_id
        AND organisation_id = NEW.organisation_id AND environment = NEW.environment;
    END
    """,
)

_POSTGRESQL_TRIGGERS = (
    """
    CREATE FUNCTION planfeed_plan_items_counted_in() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE plans SET item_count = plans.item_count + added.items
        FROM (
            SELECT plan_id, organisation_id, environment, count(*) AS items
            FROM added_items GROUP BY plan_id, organisation_id, environment
        ) AS added
        WHERE plans.id = added.plan_id AND plans.organisation_id = added.organisation_id
        AND plans.environment = added.environment;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER plan_items_counted_in AFTER INSERT ON plan_items
    REFERENCING NEW TABLE AS added_items
    FOR EACH STATEMENT EXECUTE FUNCTION planfeed_plan_items_counted_in()
    """,
    """
    CREATE FUNCTION planfeed_plan_items_counted_out() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE plans SET item_count = plans.item_count - removed.items
        FROM (
            SELECT plan_id, organisation_id, environment, count(*) AS items
            FROM removed_items GROUP BY plan_id, organisation_id, environment
        ) AS removed
        WHERE plans.id = removed.plan_id AND plans.organisation_id = removed.organisation_id
        AND plans.environment = removed.environment;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER plan_items_counted_out AFTER DELETE ON plan_items
    REFERENCING OLD TABLE AS removed_items
    FOR EACH STATEMENT EXECUTE FUNCTION planfeed_plan_items_counted_out()
    """,
    """
    CREATE FUNCTION planfeed_plan_items_counted_moved() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE plans SET item_count = item_count - 1
        WHERE id = OLD.plan_id
        AND organisation_id = OLD.organisation_id AND environment = OLD.environment;
        UPDATE plans SET item_count = item_count + 1
        WHERE id = NEW.plan_id
        AND organisation_id = NEW.organisation_id AND environment = NEW.environment;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER plan_items_counted_moved
    AFTER UPDATE OF plan_id, organisation_id, environment ON plan_items
    FOR EACH ROW WHEN (
        OLD.plan_id IS DISTINCT FROM NEW.plan_id
        OR OLD.organisation_id IS DISTINCT FROM NEW.organisation_id
        OR OLD.environment IS DISTINCT FROM NEW.environment
    )
    EXECUTE FUNCTION planfeed_plan_items_counted_moved()
    """,
)

_TRIGGERS = ("plan_items_counted_in", "plan_items_counted_out", "plan_items_counted_moved")


def upgrade() -> None:
    op.add_column(
        "plans", sa.Column("item_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.execute(
        "UPDATE plans SET item_count = (SELECT count(*) FROM plan_items "
        "WHERE plan_items.plan_id = plans.id AND plan_items.organisation_id = "
        "plans.organisation_id AND plan_items.environment = plans.environment)"
    )
    statements = (
        _POSTGRESQL_TRIGGERS if op.get_bind().dialect.name == "postgresql" else _SQLITE_TRIGGERS
    )
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger in _TRIGGERS:
        op.execute(
            f"DROP TRIGGER IF EXISTS {trigger} ON plan_items"
            if postgresql
            else f"DROP TRIGGER IF EXISTS {trigger}"
        )
        if postgresql:
            op.execute(f"DROP FUNCTION IF EXISTS planfeed_{trigger}()")
    with op.batch_alter_table("plans") as batch_op:
        batch_op.drop_column("item_count")
