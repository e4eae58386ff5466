"""batch performance: the export's page index covers the tenant scope

The export pages a plan in (sequence_key, id) order, and every query also filters by the tenant
scope. With the scope columns and id in the index, a page's ids (and the plan's item count) are
read from the index alone, instead of one table lookup per item skipped.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 23:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_plan_items_plan_sequence", table_name="plan_items")
    op.create_index(
        "ix_plan_items_plan_scope_sequence",
        "plan_items",
        ["plan_id", "organisation_id", "environment", "sequence_key", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_plan_items_plan_scope_sequence", table_name="plan_items")
    op.create_index(
        "ix_plan_items_plan_sequence", "plan_items", ["plan_id", "sequence_key"], unique=False
    )
