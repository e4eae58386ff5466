"""Plan tables: everything the plan export of seed 003 returns, plus update history."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from planfeed.db.base import Base, TenantScoped, Timestamps, utcnow


def new_uuid() -> str:
    return str(uuid.uuid4())


class MetricUnit(enum.IntEnum):
    """The export's ``units`` code: the metric's unit."""

    DOLLARS = 0
    PERCENT = 1
    NUMBER = 2

    @property
    def symbol(self) -> str:
        return {MetricUnit.DOLLARS: "$", MetricUnit.PERCENT: "%", MetricUnit.NUMBER: "#"}[self]


class TrackingDirection(enum.StrEnum):
    INCREASE = "Increase"
    DECREASE = "Decrease"
    MAINTAIN = "Maintain"


class MetricRollup(enum.StrEnum):
    MANUAL = "Manual"
    SUM = "Sum"
    AVERAGE = "Average"


class UpdateFrequency(enum.StrEnum):
    NOT_REQUIRED = "NotRequired"
    DAILY = "Daily"
    WEEKLY = "Weekly"
    BIWEEKLY = "Biweekly"
    MONTHLY = "Monthly"
    QUARTERLY = "Quarterly"


class UpdateSource(enum.StrEnum):
    JOB = "job"
    API = "api"
    WEB = "web"
    DEMO = "demo"


class Plan(TenantScoped, Timestamps, Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    levels: Mapped[list[PlanLevel]] = relationship(
        back_populates="plan", order_by="PlanLevel.depth", cascade="all, delete-orphan"
    )


class PlanLevel(TenantScoped, Base):
    """A plan's own name for a depth of its tree ("Corporate Objective", "Strategy", …)."""

    __tablename__ = "plan_levels"
    __table_args__ = (UniqueConstraint("plan_id", "depth"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    depth: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))

    plan: Mapped[Plan] = relationship(back_populates="levels")


class PlanAccess(TenantScoped, Base):
    """Who may view (member) or edit (admin) a plan: a user or a team."""

    __tablename__ = "plan_access"
    __table_args__ = (Index("ix_plan_access_plan", "plan_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None, index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), default=None, index=True
    )
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)


class PlanItem(TenantScoped, Timestamps, Base):
    __tablename__ = "plan_items"
    __table_args__ = (
        UniqueConstraint("organisation_id", "environment", "external_id"),
        # The export's page order, with the tenant scope, so a page's ids come from the index.
        Index(
            "ix_plan_items_plan_scope_sequence",
            "plan_id",
            "organisation_id",
            "environment",
            "sequence_key",
            "id",
        ),
        Index("ix_plan_items_parent", "parent_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_items.id", ondelete="RESTRICT"), default=None
    )
    dependent_on_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_items.id", ondelete="SET NULL"), default=None
    )
    level_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_levels.id", ondelete="SET NULL"), default=None
    )
    sequence_id: Mapped[str] = mapped_column(String(100))
    # Zero-padded segments ("00001.00002") so a string sort is a dotted-number sort.
    sequence_key: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str] = mapped_column(String(200), default=new_uuid)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[int] = mapped_column(Integer, default=0)
    start_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    due_date: Mapped[dt.date | None] = mapped_column(Date, default=None)

    has_metric: Mapped[bool] = mapped_column(Boolean, default=False)
    units: Mapped[int | None] = mapped_column(Integer, default=None)
    detail: Mapped[int | None] = mapped_column(Integer, default=None)
    baseline: Mapped[float | None] = mapped_column(Float, default=None)
    target: Mapped[float | None] = mapped_column(Float, default=None)
    current_value: Mapped[float | None] = mapped_column(Float, default=None)
    tracking_direction: Mapped[str | None] = mapped_column(String(10), default=None)
    rollup: Mapped[str] = mapped_column(String(10), default=MetricRollup.MANUAL.value)

    assigned_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    assigned_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    update_frequency: Mapped[str] = mapped_column(
        String(12), default=UpdateFrequency.NOT_REQUIRED.value
    )
    grace_days: Mapped[int] = mapped_column(Integer, default=0)

    files_count: Mapped[int] = mapped_column(Integer, default=0)
    updates_count: Mapped[int] = mapped_column(Integer, default=0)
    last_update_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    last_metric_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    last_update_comment_id: Mapped[int | None] = mapped_column(Integer, default=None)
    last_update_comment: Mapped[str | None] = mapped_column(Text, default=None)
    last_comment_id: Mapped[int | None] = mapped_column(Integer, default=None)
    last_comment: Mapped[str | None] = mapped_column(Text, default=None)
    last_progress_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PlanItemAccess(TenantScoped, Base):
    """An item's members and admins (users or teams), as the export lists them."""

    __tablename__ = "plan_item_access"
    __table_args__ = (Index("ix_plan_item_access_item", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("plan_items.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), default=None
    )
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)


class MetricGoal(TenantScoped, Base):
    """An advanced metric goal: a named, coloured bucket boundary."""

    __tablename__ = "metric_goals"
    __table_args__ = (Index("ix_metric_goals_item", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    item_id: Mapped[int] = mapped_column(ForeignKey("plan_items.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    color: Mapped[str] = mapped_column(String(20))
    bucket_value: Mapped[float] = mapped_column(Float)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class Checklist(TenantScoped, Base):
    __tablename__ = "checklists"
    __table_args__ = (Index("ix_checklists_item", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    item_id: Mapped[int] = mapped_column(ForeignKey("plan_items.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(300))
    sort_index: Mapped[int] = mapped_column(Integer, default=0)

    entries: Mapped[list[ChecklistEntry]] = relationship(
        order_by="ChecklistEntry.sort_index", cascade="all, delete-orphan"
    )


class ChecklistEntry(TenantScoped, Base):
    __tablename__ = "checklist_entries"
    __table_args__ = (Index("ix_checklist_entries_checklist", "checklist_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    checklist_id: Mapped[int] = mapped_column(ForeignKey("checklists.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(300))
    sort_index: Mapped[int] = mapped_column(Integer, default=0)
    done_on: Mapped[dt.date | None] = mapped_column(Date, default=None)


class Tag(TenantScoped, Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("organisation_id", "environment", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(100))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PlanItemTag(TenantScoped, Base):
    __tablename__ = "plan_item_tags"
    __table_args__ = (
        UniqueConstraint("item_id", "tag_id"),
        Index("ix_plan_item_tags_tag", "tag_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("plan_items.id", ondelete="CASCADE"))
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"))


class Comment(TenantScoped, Base):
    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_item", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    item_id: Mapped[int] = mapped_column(ForeignKey("plan_items.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProgressUpdate(TenantScoped, Base):
    """One progress update in an item's history (status, value, as-of date, comment)."""

    __tablename__ = "progress_updates"
    __table_args__ = (Index("ix_progress_updates_item_as_of", "item_id", "as_of"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("plan_items.id", ondelete="CASCADE"))
    status: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    as_of: Mapped[dt.date] = mapped_column(Date)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    source: Mapped[str] = mapped_column(String(10), default=UpdateSource.API.value)
    job_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MetricUpdate(TenantScoped, Base):
    """One value in an item's metric history."""

    __tablename__ = "metric_updates"
    __table_args__ = (Index("ix_metric_updates_item_as_of", "item_id", "as_of"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("plan_items.id", ondelete="CASCADE"))
    value: Mapped[float] = mapped_column(Float)
    as_of: Mapped[dt.date] = mapped_column(Date)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    source: Mapped[str] = mapped_column(String(10), default=UpdateSource.API.value)
    job_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
