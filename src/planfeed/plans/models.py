"""Plan tables: everything the plan export of seed 003 returns, plus update history."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    insert,
    inspect,
    join,
    select,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, object_session, relationship

from planfeed.db.base import (
    ENFORCED_BY_TRIGGER_ON_POSTGRESQL,
    KEPT_BY_DATABASE,
    Base,
    TenantScoped,
    Timestamps,
    UTCDateTime,
    utcnow,
)

# PostgreSQL fill factor of the progress rows: see ITEM_PROGRESS.
FILL_FACTOR = 50  # migration 0010


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
    # Kept by triggers on plan_items (migration 0008), never written here. item_count: how many
    # items the plan has (the export's totalCount). item_order_token: a random value, new
    # whenever an item comes, goes or is renumbered (the export's PageAnchors are valid for one).
    item_count: Mapped[int] = mapped_column(
        Integer, server_default="0", info={KEPT_BY_DATABASE: True}
    )
    item_order_token: Mapped[str] = mapped_column(
        String(36), server_default="", info={KEPT_BY_DATABASE: True}
    )

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


def item_key(info: dict[str, Any] | None = None) -> ForeignKeyConstraint:
    """The foreign key of a row that belongs to one plan item (its progress row, its history):
    the item's id together with the row's organisation and environment, so the database itself
    refuses a row whose scope is not its item's. It replaces two keys (to the item, to the
    organisation), which halves the checks of a bulk insert; deleting the item, or its
    organisation (through the item), deletes the row."""
    return ForeignKeyConstraint(
        ["item_id", "organisation_id", "environment"],
        ["plan_items.id", "plan_items.organisation_id", "plan_items.environment"],
        ondelete="CASCADE",
        info=info,
    )


def history_references() -> tuple[ForeignKeyConstraint, ForeignKeyConstraint]:
    """A history row's two foreign keys: its item (``item_key``) and its author (kept as NULL
    when the user is deleted). On PostgreSQL they are not constraints but triggers
    (migration 0009), which check a 100,000-row COPY once per statement instead of twice per
    row; SQLite keeps them as constraints. Both are declared here, with their ``info`` saying so,
    because SQLite's tables, the ORM's flush order and the sandbox copy read them."""
    return (
        item_key(info={ENFORCED_BY_TRIGGER_ON_POSTGRESQL: True}),
        ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            ondelete="SET NULL",
            info={ENFORCED_BY_TRIGGER_ON_POSTGRESQL: True},
        ),
    )


# A plan item is stored in two tables joined one to one. ``plan_items`` holds what the plan's
# authors edit; ``plan_item_progress`` holds what every progress or metric update moves (status,
# current value, the last-update fields, the update count and the last-updated time). A batch job
# rewrites the progress rows of up to 100,000 items at once: narrow rows make that several times
# cheaper (and leave the wide rows, and their seven indexes, untouched). The ORM sees one
# ``PlanItem``; Core statements name the table they need (``ITEMS`` or ``ITEM_PROGRESS``).
ITEMS = Table(
    "plan_items",
    Base.metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "organisation_id",
        ForeignKey("organisations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("environment", String(10), nullable=False),
    Column("public_id", String(36), nullable=False, unique=True, default=new_uuid),
    Column("plan_id", ForeignKey("plans.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", ForeignKey("plan_items.id", ondelete="RESTRICT")),
    Column("dependent_on_id", ForeignKey("plan_items.id", ondelete="SET NULL")),
    Column("level_id", ForeignKey("plan_levels.id", ondelete="SET NULL")),
    Column("sequence_id", String(100), nullable=False),
    # Zero-padded segments ("00001.00002") so a string sort is a dotted-number sort.
    Column("sequence_key", String(200), nullable=False),
    Column("external_id", String(200), nullable=False, default=new_uuid),
    Column("name", String(500), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("start_date", Date),
    Column("due_date", Date),
    Column("has_metric", Boolean, nullable=False, default=False),
    Column("units", Integer),
    Column("detail", Integer),
    Column("baseline", Float),
    Column("target", Float),
    Column("tracking_direction", String(10)),
    Column("rollup", String(10), nullable=False, default=MetricRollup.MANUAL.value),
    Column("assigned_to_id", ForeignKey("users.id", ondelete="SET NULL"), index=True),
    Column("assigned_by_id", ForeignKey("users.id", ondelete="SET NULL")),
    Column(
        "update_frequency", String(12), nullable=False, default=UpdateFrequency.NOT_REQUIRED.value
    ),
    Column("grace_days", Integer, nullable=False, default=0),
    Column("files_count", Integer, nullable=False, default=0),
    Column("last_update_comment_id", Integer),
    Column("last_comment_id", Integer),
    Column("last_comment", Text),
    Column("custom_fields", JSON, nullable=False, default=dict),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    UniqueConstraint("organisation_id", "environment", "external_id"),
    # The target of the item's own rows' foreign keys (see item_key): a row can only point at
    # an item of its own organisation and environment.
    Index("ix_plan_items_item_key", "id", "organisation_id", "environment", unique=True),
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

ITEM_PROGRESS = Table(
    "plan_item_progress",
    Base.metadata,
    Column("item_id", Integer, primary_key=True),
    Column("organisation_id", Integer, nullable=False, index=True),
    Column("environment", String(10), nullable=False),
    Column("status", Integer, nullable=False, default=0),
    Column("current_value", Float),
    Column("last_update_on", Date),
    Column("last_metric_on", Date),
    Column("last_update_comment", Text),
    Column("last_progress_user_id", ForeignKey("users.id", ondelete="SET NULL")),
    Column("updates_count", Integer, nullable=False, default=0),
    # The item's last-updated time: set by every update job and by every ORM edit of the item
    # (see _touch_item below).
    Column("updated_at", UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow),
    item_key(),
    # PostgreSQL: a job's update of every row writes each new version on the same page, without
    # touching the indexes (a heap-only tuple), when the page has room for it.
    postgresql_with={"fillfactor": FILL_FACTOR},
)


class PlanItem(TenantScoped, Base):
    """One item of a plan: ``plan_items`` joined one to one with ``plan_item_progress``.

    Creating, editing or deleting a ``PlanItem`` through the ORM writes both rows; the shared
    columns (id, organisation, environment) are kept equal by the mapping."""

    __table__ = join(ITEMS, ITEM_PROGRESS, ITEMS.c.id == ITEM_PROGRESS.c.item_id)

    id = column_property(ITEMS.c.id, ITEM_PROGRESS.c.item_id)
    organisation_id = column_property(ITEMS.c.organisation_id, ITEM_PROGRESS.c.organisation_id)
    environment = column_property(ITEMS.c.environment, ITEM_PROGRESS.c.environment)

    if TYPE_CHECKING:  # the mapped columns, as the rest of the code sees them
        public_id: str
        plan_id: int
        parent_id: int | None
        dependent_on_id: int | None
        level_id: int | None
        sequence_id: str
        sequence_key: str
        external_id: str
        name: str
        description: str
        start_date: dt.date | None
        due_date: dt.date | None
        has_metric: bool
        units: int | None
        detail: int | None
        baseline: float | None
        target: float | None
        tracking_direction: str | None
        rollup: str
        assigned_to_id: int | None
        assigned_by_id: int | None
        update_frequency: str
        grace_days: int
        files_count: int
        last_update_comment_id: int | None
        last_comment_id: int | None
        last_comment: str | None
        custom_fields: dict[str, Any]
        created_at: dt.datetime
        status: int
        current_value: float | None
        last_update_on: dt.date | None
        last_metric_on: dt.date | None
        last_update_comment: str | None
        last_progress_user_id: int | None
        updates_count: int
        updated_at: dt.datetime

        def __init__(self, **kwargs: Any) -> None: ...


def insert_item_rows(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Core bulk insert of plan items given as ``PlanItem``'s column values: each becomes its
    ``plan_items`` row and its progress row. Returns the new ids, in the order of ``rows``.
    For bulk loads that skip the ORM (benchmarks, tests): every item needs its progress row,
    or the ORM cannot see it."""
    if not rows:
        return []
    progress_names = set(ITEM_PROGRESS.c.keys()) - {"item_id"}
    item_names = set(ITEMS.c.keys())
    ids = list(
        connection.scalars(
            insert(ITEMS).returning(ITEMS.c.id, sort_by_parameter_order=True),
            [{k: v for k, v in row.items() if k in item_names} for row in rows],
        )
    )
    connection.execute(
        insert(ITEM_PROGRESS),
        [
            {"item_id": item_id, **{k: v for k, v in row.items() if k in progress_names}}
            for item_id, row in zip(ids, rows, strict=True)
        ],
    )
    return ids


@event.listens_for(PlanItem, "before_delete")
def _hold_plan(_mapper: Any, connection: Connection, item: PlanItem) -> None:
    """PostgreSQL: lock the item's plan before the ORM deletes the item's rows, progress row
    first. A batch job holds the plans of its items from its history insert until it commits,
    and updates their progress rows after that insert: a delete that locked the progress row
    and then waited for the plan (its count update) deadlocked with it (migration 0009)."""
    if connection.dialect.name == "postgresql":
        plans = Plan.__table__
        connection.execute(
            select(plans.c.id).where(plans.c.id == item.plan_id).with_for_update(key_share=True)
        )


@event.listens_for(PlanItem, "before_update")
def _touch_item(_mapper: Any, _connection: Any, item: PlanItem) -> None:
    """An edit of the ``plan_items`` columns alone would not write the progress row, which
    holds the item's last-updated time: set it here, for every item with a real change (unless
    the change sets that time itself)."""
    session = object_session(item)
    if (
        session is not None
        and session.is_modified(item, include_collections=False)
        and not inspect(item).attrs.updated_at.history.has_changes()
    ):
        item.updated_at = utcnow()


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
    __table_args__ = (
        Index("ix_progress_updates_item_as_of", "item_id", "as_of"),
        *history_references(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The organisation through the item (``item_key``), not a key of its own.
    organisation_id: Mapped[int] = mapped_column(Integer, index=True)
    item_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    as_of: Mapped[dt.date] = mapped_column(Date)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    # Refers to users.id: see history_references.
    author_id: Mapped[int | None] = mapped_column(Integer, default=None)
    source: Mapped[str] = mapped_column(String(10), default=UpdateSource.API.value)
    job_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MetricUpdate(TenantScoped, Base):
    """One value in an item's metric history."""

    __tablename__ = "metric_updates"
    __table_args__ = (
        Index("ix_metric_updates_item_as_of", "item_id", "as_of"),
        *history_references(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The organisation through the item (``item_key``), not a key of its own.
    organisation_id: Mapped[int] = mapped_column(Integer, index=True)
    item_id: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    as_of: Mapped[dt.date] = mapped_column(Date)
    # Refers to users.id: see history_references.
    author_id: Mapped[int | None] = mapped_column(Integer, default=None)
    source: Mapped[str] = mapped_column(String(10), default=UpdateSource.API.value)
    job_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
