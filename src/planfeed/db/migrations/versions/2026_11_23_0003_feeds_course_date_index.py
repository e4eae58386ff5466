"""feeds: course dates by course, status and start in the tenant scope

The feeds' common course-date query filters by course (``CourseID``, through the template) and
status and orders by start date, with a count of the matches. With the scope columns first, the
course and status as equalities and the start date last, both the page (read in index order) and
the count are answered from this index's range instead of every date of the course.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 23:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_course_dates_scope_template_status_start",
        "course_dates",
        ["organisation_id", "environment", "course_template_id", "status", "start_date"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_course_dates_scope_template_status_start", table_name="course_dates")
