"""batch performance and integrity: history rows reference their item with its scope

A history row (``progress_updates``, ``metric_updates``) had two foreign keys, to its item and to
its organisation. Both become one: the item's id with the row's organisation and environment, to
``plan_items``' (id, organisation, environment) unique index (``plans.models.item_key``). The
database now refuses a history row whose organisation or environment is not its item's, and a
bulk insert checks one key per row instead of two (on PostgreSQL, about a third of a 100,000-row
COPY's time went to each key). Deleting an item, or its organisation through its items, still
deletes its history.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 07:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HISTORY = ("progress_updates", "metric_updates")


def upgrade() -> None:
    for table in HISTORY:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_item_id_plan_items", type_="foreignkey")
            batch_op.drop_constraint(
                f"fk_{table}_organisation_id_organisations", type_="foreignkey"
            )
            batch_op.create_foreign_key(
                f"fk_{table}_item_id_plan_items",
                "plan_items",
                ["item_id", "organisation_id", "environment"],
                ["id", "organisation_id", "environment"],
                ondelete="CASCADE",
            )


def downgrade() -> None:
    for table in HISTORY:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_item_id_plan_items", type_="foreignkey")
            batch_op.create_foreign_key(
                f"fk_{table}_item_id_plan_items",
                "plan_items",
                ["item_id"],
                ["id"],
                ondelete="CASCADE",
            )
            batch_op.create_foreign_key(
                f"fk_{table}_organisation_id_organisations",
                "organisations",
                ["organisation_id"],
                ["id"],
                ondelete="CASCADE",
            )
