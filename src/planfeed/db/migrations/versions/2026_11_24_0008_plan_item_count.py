"""export performance: every plan keeps its item count and an item order token, maintained by
the database

- ``plans.item_count``: the number of the plan's items (in the plan's own organisation and
  environment, as the export counted them). The export's ``totalCount`` (seed 003) was a count
  over the plan's index on every page: on PostgreSQL about 7 ms of a 100,000-item plan's page.
- ``plans.item_order_token``: a random value that changes whenever the plan's items change
  their tree order (one comes, goes, or gets another sequence). The export caches where every
  thousandth item of the order stands under the token (``plans.export.PageAnchors``), so a page
  deep into a large plan starts near its place instead of walking the index from the start.

Triggers on ``plan_items`` keep both, so every way an item comes, goes or moves counts: the ORM,
Core bulk loads, sandbox resets, cascades from a deleted plan or organisation, and an item moved
to another plan or renumbered. On PostgreSQL, inserts and deletes are counted once per
statement (transition tables), so a bulk load of 100,000 items updates each plan row once;
SQLite has row triggers only. On PostgreSQL an insert or delete of items holds its plan's row
until commit, so concurrent item writes to one plan take turns.

A later migration that rebuilds ``plan_items`` or ``plans`` on SQLite (``batch_alter_table``)
must drop these triggers first and create them again after: rebuilding ``plan_items`` drops
them with the table, and SQLite refuses to rename the rebuilt ``plans`` into place while a
trigger names it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 10:00:00.000000
"""

# ruff: noqa: S608 - trigger DDL assembled from this module's constants; no value is bound.

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A new random order token: the export's cached anchors of the old order no longer apply.
_SQLITE_RANDOM = "lower(hex(randomblob(16)))"
_POSTGRESQL_RANDOM = "md5(random()::text || clock_timestamp()::text)"


def _of_plan(row: str) -> str:
    """The condition picking ``row``'s plan (its id, in its own scope) out of ``plans``."""
    return (
        f"plans.id = {row}.plan_id AND plans.organisation_id = {row}.organisation_id "
        f"AND plans.environment = {row}.environment"
    )


def _sqlite_triggers() -> list[str]:
    def counted(row: str, sign: str) -> str:
        return (
            f"UPDATE plans SET item_count = item_count {sign} 1, item_order_token = "
            f"{_SQLITE_RANDOM} WHERE {_of_plan(row)};"
        )

    return [
        f"""CREATE TRIGGER plan_items_counted_in AFTER INSERT ON plan_items
        BEGIN {counted("NEW", "+")} END""",
        f"""CREATE TRIGGER plan_items_counted_out AFTER DELETE ON plan_items
        BEGIN {counted("OLD", "-")} END""",
        f"""CREATE TRIGGER plan_items_counted_moved
        AFTER UPDATE OF plan_id, organisation_id, environment ON plan_items
        WHEN OLD.plan_id IS NOT NEW.plan_id OR OLD.organisation_id IS NOT NEW.organisation_id
        OR OLD.environment IS NOT NEW.environment
        BEGIN {counted("OLD", "-")} {counted("NEW", "+")} END""",
        f"""CREATE TRIGGER plan_items_reordered AFTER UPDATE OF sequence_key ON plan_items
        WHEN OLD.sequence_key IS NOT NEW.sequence_key
        BEGIN
            UPDATE plans SET item_order_token = {_SQLITE_RANDOM} WHERE {_of_plan("NEW")};
        END""",
    ]


def _postgresql_triggers() -> list[str]:
    def per_statement(trigger: str, event: str, transition: str, sign: str) -> list[str]:
        """Count a statement's rows per plan once (``transition``: its NEW or OLD table)."""
        return [
            f"""CREATE FUNCTION planfeed_{trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE plans SET item_count = plans.item_count {sign} changed.items,
                    item_order_token = {_POSTGRESQL_RANDOM}
                FROM (
                    SELECT plan_id, organisation_id, environment, count(*) AS items
                    FROM changed_items GROUP BY plan_id, organisation_id, environment
                ) AS changed
                WHERE {_of_plan("changed")};
                RETURN NULL;
            END
            $$""",
            f"""CREATE TRIGGER {trigger} AFTER {event} ON plan_items
            REFERENCING {transition} TABLE AS changed_items
            FOR EACH STATEMENT EXECUTE FUNCTION planfeed_{trigger}()""",
        ]

    def per_row(trigger: str, columns: str, changed: str, updates: str) -> list[str]:
        return [
            f"""CREATE FUNCTION planfeed_{trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN {updates} RETURN NULL; END
            $$""",
            f"""CREATE TRIGGER {trigger} AFTER UPDATE OF {columns} ON plan_items
            FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION planfeed_{trigger}()""",
        ]

    def counted(row: str, sign: str) -> str:
        return (
            f"UPDATE plans SET item_count = item_count {sign} 1, item_order_token = "
            f"{_POSTGRESQL_RANDOM} WHERE {_of_plan(row)};"
        )

    return [
        *per_statement("plan_items_counted_in", "INSERT", "NEW", "+"),
        *per_statement("plan_items_counted_out", "DELETE", "OLD", "-"),
        *per_row(
            "plan_items_counted_moved",
            "plan_id, organisation_id, environment",
            "OLD.plan_id IS DISTINCT FROM NEW.plan_id OR OLD.organisation_id IS DISTINCT FROM "
            "NEW.organisation_id OR OLD.environment IS DISTINCT FROM NEW.environment",
            counted("OLD", "-") + " " + counted("NEW", "+"),
        ),
        *per_row(
            "plan_items_reordered",
            "sequence_key",
            "OLD.sequence_key IS DISTINCT FROM NEW.sequence_key",
            f"UPDATE plans SET item_order_token = {_POSTGRESQL_RANDOM} WHERE {_of_plan('NEW')};",
        ),
    ]


_TRIGGERS = (
    "plan_items_counted_in",
    "plan_items_counted_out",
    "plan_items_counted_moved",
    "plan_items_reordered",
)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.add_column(
        "plans", sa.Column("item_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "plans",
        sa.Column("item_order_token", sa.String(36), nullable=False, server_default=""),
    )
    random = _POSTGRESQL_RANDOM if postgresql else _SQLITE_RANDOM
    op.execute(
        "UPDATE plans SET item_count = "
        f"(SELECT count(*) FROM plan_items WHERE {_of_plan('plan_items')}), "
        f"item_order_token = {random}"
    )
    for statement in _postgresql_triggers() if postgresql else _sqlite_triggers():
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
        batch_op.drop_column("item_order_token")
        batch_op.drop_column("item_count")
