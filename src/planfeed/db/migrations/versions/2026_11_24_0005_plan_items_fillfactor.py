"""batch performance: room on plan_items pages for in-place (HOT) updates on PostgreSQL

A progress file updates the status and progress columns of every item it names. None of those
columns is indexed, so PostgreSQL can write the new row version on the same page without
touching the table's seven indexes (a heap-only tuple), but only when the page has room. A
fill factor of 70 leaves that room on pages written from now on (existing pages get it at their
next rewrite, e.g. ``VACUUM FULL plan_items``). SQLite has no such setting: nothing to do there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 01:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL_FACTOR = 70


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE plan_items SET (fillfactor = {FILL_FACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE plan_items RESET (fillfactor)")
