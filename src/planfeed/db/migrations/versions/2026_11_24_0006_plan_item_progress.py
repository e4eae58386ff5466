"""batch performance: a plan item's progress columns in their own narrow table

A progress or metric file rewrites the status, current value, last-update fields, update count
and last-updated time of every item it names: up to 100,000 items in one job. Those columns move
from ``plan_items`` to ``plan_item_progress``, one row per item with the item's id as its key, so
a job rewrites narrow rows with two indexes instead of the wide item rows with seven. The ORM
still maps one ``PlanItem`` over both tables. A progress row's foreign key is its item's id with
its organisation and environment (against a new unique index on ``plan_items``), so a progress
row can only belong to an item of its own scope.

Existing values are copied over. ``plan_items`` no longer needs free space for in-place updates
on PostgreSQL (0005), so its fill factor returns to the default (for pages written from now on);
the progress table gets it.

On SQLite, dropping the columns rebuilds ``plan_items``; ``planfeed.db.migrate.upgrade`` turns
foreign keys off around the migration (as SQLite's documentation prescribes for such a rebuild),
so rebuilding the table cascades nothing, and checks the foreign keys before committing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import planfeed.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL_FACTOR = 70
MOVED = (
    "status",
    "current_value",
    "last_update_on",
    "last_metric_on",
    "last_update_comment",
    "last_progress_user_id",
    "updates_count",
    "updated_at",
)


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    # The key of the rows that belong to one item (``plans.models.item_key``).
    op.create_index(
        "ix_plan_items_item_key",
        "plan_items",
        ["id", "organisation_id", "environment"],
        unique=True,
    )
    op.create_table(
        "plan_item_progress",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("environment", sa.String(length=10), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("current_value", sa.Float(), nullable=True),
        sa.Column("last_update_on", sa.Date(), nullable=True),
        sa.Column("last_metric_on", sa.Date(), nullable=True),
        sa.Column("last_update_comment", sa.Text(), nullable=True),
        sa.Column("last_progress_user_id", sa.Integer(), nullable=True),
        sa.Column("updates_count", sa.Integer(), nullable=False),
        sa.Column("updated_at", planfeed.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id", "organisation_id", "environment"],
            ["plan_items.id", "plan_items.organisation_id", "plan_items.environment"],
            name=op.f("fk_plan_item_progress_item_id_plan_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["last_progress_user_id"],
            ["users.id"],
            name=op.f("fk_plan_item_progress_last_progress_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_plan_item_progress")),
        postgresql_with={"fillfactor": FILL_FACTOR},
    )
    op.create_index(
        op.f("ix_plan_item_progress_organisation_id"),
        "plan_item_progress",
        ["organisation_id"],
        unique=False,
    )
    moved = ", ".join(MOVED)
    op.execute(
        f"INSERT INTO plan_item_progress (item_id, organisation_id, environment, {moved}) "  # noqa: S608
        f"SELECT id, organisation_id, environment, {moved} FROM plan_items"
    )
    with op.batch_alter_table("plan_items") as batch_op:
        batch_op.drop_constraint(
            op.f("fk_plan_items_last_progress_user_id_users"), type_="foreignkey"
        )
        for name in MOVED:
            batch_op.drop_column(name)
    if _postgresql():
        op.execute("ALTER TABLE plan_items RESET (fillfactor)")


def downgrade() -> None:
    if _postgresql():
        op.execute(f"ALTER TABLE plan_items SET (fillfactor = {FILL_FACTOR})")
    with op.batch_alter_table("plan_items") as batch_op:
        batch_op.add_column(sa.Column("status", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("current_value", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("last_update_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("last_metric_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("last_update_comment", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_progress_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("updates_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column(
                "updated_at",
                planfeed.db.base.UTCDateTime(timezone=True),
                nullable=False,
                server_default=sa.func.current_timestamp(),
            )
        )
        batch_op.create_foreign_key(
            op.f("fk_plan_items_last_progress_user_id_users"),
            "users",
            ["last_progress_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
    assignments = ", ".join(
        f"{name} = (SELECT progress.{name} FROM plan_item_progress AS progress "  # noqa: S608
        "WHERE progress.item_id = plan_items.id)"
        for name in MOVED
    )
    op.execute(f"UPDATE plan_items SET {assignments}")  # noqa: S608
    with op.batch_alter_table("plan_items") as batch_op:
        batch_op.alter_column("status", server_default=None)
        batch_op.alter_column("updates_count", server_default=None)
        batch_op.alter_column("updated_at", server_default=None)
    op.drop_index(op.f("ix_plan_item_progress_organisation_id"), table_name="plan_item_progress")
    op.drop_table("plan_item_progress")
    op.drop_index("ix_plan_items_item_key", table_name="plan_items")
