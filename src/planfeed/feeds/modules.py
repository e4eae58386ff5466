"""The declarations of every feeds module (seed 004 plus planfeed's plan modules).

Field names are the canonical PascalCase names answers use; clients may write them in any case.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select

from planfeed.accounts.models import ApiKey, Role, Team, User, UserStatus
from planfeed.auth.permissions import (
    Action,
    allowed,
    editable_plan_ids,
    viewable_plan_ids,
)
from planfeed.auth.principal import Principal
from planfeed.feeds import hooks
from planfeed.feeds.fields import FieldType
from planfeed.feeds.registry import Access, Blocker, Field, Module, Registry, role_access
from planfeed.plans.models import Plan, PlanItem, ProgressUpdate, Tag, UpdateFrequency
from planfeed.plans.statuses import STATUS_LABELS, Status
from planfeed.training.models import (
    Booking,
    BookingStatus,
    Company,
    CourseDate,
    CourseDateStatus,
    CourseTemplate,
)

STR, INT, DEC, BOOL, DATETIME, DATE = (
    FieldType.STRING,
    FieldType.INTEGER,
    FieldType.DECIMAL,
    FieldType.BOOLEAN,
    FieldType.DATETIME,
    FieldType.DATE,
)


def _id(name: str, what: str) -> Field:
    return Field(name, INT, "id", description=f"The {what}'s ID.", nullable=False)


def _created() -> Field:
    return Field(
        "Created", DATETIME, "created_at", description="When the record was created (UTC)."
    )


def _updated() -> Field:
    return Field(
        "LastUpdated", DATETIME, "updated_at", description="When the record last changed (UTC)."
    )


def _status_label(column: Any) -> ColumnElement[str]:
    return case({status.value: status.label for status in Status}, value=column, else_="")


def _count(model: Any, column: Any) -> Any:
    def count(session: Any, record_id: int) -> int:
        return session.scalar(select(func.count(model.id)).where(column == record_id)) or 0

    return count


def _own_rows(column: Any, unless: Action) -> Any:
    """Users without ``unless`` see only the rows that are theirs."""

    def rows(principal: Principal) -> ColumnElement[bool] | None:
        return None if allowed(principal, unless) else column == principal.user_id

    return rows


def _in_plans(column: Any, plan_ids: Any) -> Any:
    def rows(principal: Principal) -> ColumnElement[bool] | None:
        subquery = plan_ids(principal)
        return None if subquery is None else column.in_(subquery)

    return rows


def _items_in_plans(plan_ids: Any) -> Any:
    def rows(principal: Principal) -> ColumnElement[bool] | None:
        subquery = plan_ids(principal)
        if subquery is None:
            return None
        return ProgressUpdate.item_id.in_(select(PlanItem.id).where(PlanItem.plan_id.in_(subquery)))

    return rows


def _plan_access(principal: Principal) -> Access:
    """Everyone reads the plans they may view; plan admins edit theirs (rows decide which)."""
    return Access.WRITE


def _with_template(statement: Select[Any]) -> Select[Any]:
    return statement.join(CourseTemplate, CourseTemplate.id == CourseDate.course_template_id)


_full_name = func.trim(User.forenames + " " + User.surname)

USER = Module(
    name="user",
    display_name="user",
    model=User,
    id_field="UserID",
    description="People who sign in, are assigned plan items and book courses.",
    access=role_access(read=None, write=Action.MANAGE_USERS),
    visible_rows=_own_rows(User.id, Action.MANAGE_USERS),
    fields=(
        _id("UserID", "user"),
        Field(
            "Username",
            STR,
            "login",
            description="The user ID used to sign in; 1-100 letters, digits or . _ @ + -.",
            writable=True,
            required=True,
            max_length=100,
            nullable=False,
            unique=True,
        ),
        Field(
            "Email",
            STR,
            "email",
            description="Email address.",
            writable=True,
            required=True,
            max_length=254,
            nullable=False,
        ),
        Field(
            "Forenames",
            STR,
            "forenames",
            description="Given names.",
            writable=True,
            max_length=100,
            nullable=False,
        ),
        Field(
            "Surname",
            STR,
            "surname",
            description="Family name.",
            writable=True,
            max_length=100,
            nullable=False,
        ),
        Field("FullName", STR, expression=lambda: _full_name, description="Forenames and surname."),
        Field(
            "Status",
            STR,
            "status",
            description="Active, Inactive or Deleted.",
            writable=True,
            choices=tuple(s.value for s in UserStatus),
            nullable=False,
        ),
        Field(
            "Role",
            STR,
            "role",
            description="SuperAdmin, Admin or User.",
            writable=True,
            choices=tuple(r.value for r in Role),
            nullable=False,
        ),
        Field(
            "JobTitle", STR, "job_title", description="Job title.", writable=True, max_length=200
        ),
        Field(
            "CompanyID",
            INT,
            "company_id",
            description="The user's company.",
            writable=True,
            references="company",
        ),
        Field(
            "Password",
            STR,
            "password_hash",
            description="Sets the password (write-only, 8+ characters).",
            writable=True,
            readable=False,
            max_length=200,
            in_default_select=False,
            to_db=hooks.hash_new_password,
        ),
        _created(),
        _updated(),
    ),
    before_write=hooks.check_user,
    soft_delete=hooks.soft_delete_user,
    blockers=(Blocker("bookings", _count(Booking, Booking.user_id)),),
)

COMPANY = Module(
    name="company",
    display_name="company",
    model=Company,
    id_field="CompanyID",
    description="Organisations that users belong to and bookings are made for.",
    access=role_access(read=None, write=Action.MANAGE_TRAINING),
    fields=(
        _id("CompanyID", "company"),
        Field(
            "Name",
            STR,
            "name",
            description="Company name.",
            writable=True,
            required=True,
            max_length=200,
            nullable=False,
        ),
        Field("Email", STR, "email", description="Contact email.", writable=True, max_length=254),
        Field("Phone", STR, "phone", description="Contact phone.", writable=True, max_length=50),
        _created(),
        _updated(),
    ),
)

TEAM = Module(
    name="team",
    display_name="team",
    model=Team,
    id_field="TeamID",
    description="Groups of users; plans and items can be shared with a team.",
    access=role_access(read=None, write=Action.MANAGE_TEAMS),
    fields=(
        _id("TeamID", "team"),
        Field(
            "Name",
            STR,
            "name",
            description="Team name, unique.",
            writable=True,
            required=True,
            max_length=200,
            nullable=False,
            unique=True,
        ),
        Field(
            "Description",
            STR,
            "description",
            description="What the team is for.",
            writable=True,
            max_length=2000,
            nullable=False,
        ),
        _created(),
        _updated(),
    ),
)

COURSE_TEMPLATE = Module(
    name="coursetemplate",
    display_name="courseTemplate",
    aliases=("course",),
    model=CourseTemplate,
    id_field="CourseTemplateID",
    description="Courses that can be scheduled; each course date is one run of a course.",
    access=role_access(read=None, write=Action.MANAGE_TRAINING),
    fields=(
        _id("CourseTemplateID", "course template"),
        Field(
            "CourseID",
            STR,
            "code",
            description="The course's code, e.g. 'FirAid'; unique.",
            writable=True,
            required=True,
            max_length=50,
            nullable=False,
            unique=True,
        ),
        Field(
            "Name",
            STR,
            "name",
            description="Course name.",
            writable=True,
            required=True,
            max_length=200,
            nullable=False,
        ),
        Field(
            "Description",
            STR,
            "description",
            description="Course description.",
            writable=True,
            nullable=False,
            max_length=20000,
        ),
        Field(
            "DurationHours", DEC, "duration_hours", description="Length in hours.", writable=True
        ),
        _created(),
        _updated(),
    ),
    blockers=(Blocker("course dates", _count(CourseDate, CourseDate.course_template_id)),),
)

COURSE_DATE = Module(
    name="coursedate",
    display_name="courseDate",
    model=CourseDate,
    id_field="CourseDateID",
    description="Scheduled runs of a course, with capacity and spaces left.",
    access=role_access(read=None, write=Action.MANAGE_TRAINING),
    joins=_with_template,
    fields=(
        _id("CourseDateID", "course date"),
        Field(
            "CourseTemplateID",
            INT,
            "course_template_id",
            description="The course template.",
            writable=True,
            references="coursetemplate",
            nullable=False,
        ),
        Field(
            "CourseID",
            STR,
            "course_template_id",
            expression=lambda: CourseTemplate.code,
            description="The course's code (e.g. 'FirAid'); writing it sets the template.",
            writable=True,
            references="coursetemplate",
            reference_by="CourseID",
            nullable=False,
            max_length=50,
        ),
        Field(
            "CourseName",
            STR,
            expression=lambda: CourseTemplate.name,
            description="The course's name.",
        ),
        Field(
            "Label",
            STR,
            "label",
            description="What the date is called in lists.",
            writable=True,
            required=True,
            max_length=200,
            nullable=False,
        ),
        Field(
            "StartDate",
            DATETIME,
            "start_date",
            description="Start (UTC).",
            writable=True,
            required=True,
            nullable=False,
        ),
        Field(
            "EndDate",
            DATETIME,
            "end_date",
            description="End (UTC); not before the start.",
            writable=True,
            required=True,
            nullable=False,
        ),
        Field(
            "Status",
            STR,
            "status",
            description="Available, Full, Cancelled or Completed.",
            writable=True,
            choices=tuple(s.value for s in CourseDateStatus),
            nullable=False,
        ),
        Field(
            "Capacity",
            INT,
            "capacity",
            description="Places in total; never below the places booked.",
            writable=True,
            nullable=False,
        ),
        Field(
            "Booked",
            INT,
            "booked_count",
            description="Places booked (from bookings).",
            nullable=False,
        ),
        Field(
            "SpacesLeft",
            INT,
            expression=lambda: CourseDate.capacity - CourseDate.booked_count,
            description="Capacity minus places booked; never below zero.",
            nullable=False,
        ),
        Field(
            "Location", STR, "location", description="Where it runs.", writable=True, max_length=200
        ),
        Field("Price", DEC, "price", description="Price per place.", writable=True),
        _created(),
        _updated(),
    ),
    before_write=hooks.check_course_date,
    blockers=(Blocker("bookings", _count(Booking, Booking.course_date_id)),),
)

BOOKING = Module(
    name="booking",
    display_name="booking",
    model=Booking,
    id_field="BookingID",
    description="A user's place on a course date. Booking takes a space; cancelling frees it.",
    access=role_access(read=None, write=Action.MANAGE_TRAINING),
    visible_rows=_own_rows(Booking.user_id, Action.MANAGE_TRAINING),
    fields=(
        _id("BookingID", "booking"),
        Field(
            "CourseDateID",
            INT,
            "course_date_id",
            description="The course date booked.",
            writable=True,
            required=True,
            references="coursedate",
            nullable=False,
        ),
        Field(
            "UserID",
            INT,
            "user_id",
            description="The delegate.",
            writable=True,
            required=True,
            references="user",
            nullable=False,
        ),
        Field(
            "CompanyID",
            INT,
            "company_id",
            description="The company paying.",
            writable=True,
            references="company",
        ),
        Field(
            "Status",
            STR,
            "status",
            description="Booked, Attended or Cancelled.",
            writable=True,
            choices=tuple(s.value for s in BookingStatus),
            nullable=False,
        ),
        _created(),
        _updated(),
    ),
    before_write=hooks.check_booking,
    before_delete=hooks.release_booking,
)

PLAN = Module(
    name="plan",
    display_name="plan",
    model=Plan,
    id_field="PlanID",
    description="Strategic plans; their items are in the planitem module.",
    access=_plan_access,
    visible_rows=_in_plans(Plan.id, viewable_plan_ids),
    writable_rows=_in_plans(Plan.id, editable_plan_ids),
    fields=(
        _id("PlanID", "plan"),
        Field(
            "PublicID",
            STR,
            "public_id",
            description="The plan ID of the export API (/exports/plans/{PublicID}).",
            nullable=False,
        ),
        Field(
            "Name",
            STR,
            "name",
            description="Plan name.",
            writable=True,
            required=True,
            max_length=300,
            nullable=False,
        ),
        Field(
            "Description",
            STR,
            "description",
            description="Plan description.",
            writable=True,
            max_length=20000,
            nullable=False,
        ),
        Field(
            "OwnerID",
            INT,
            "owner_id",
            description="The plan's owner.",
            writable=True,
            references="user",
        ),
        _created(),
        _updated(),
    ),
    before_write=hooks.check_plan,
    blockers=(Blocker("plan items", _count(PlanItem, PlanItem.plan_id)),),
)

PLAN_ITEM = Module(
    name="planitem",
    display_name="planItem",
    model=PlanItem,
    id_field="PlanItemID",
    description="Items of a plan's tree: objectives, strategies, actions, with metrics.",
    access=_plan_access,
    visible_rows=_in_plans(PlanItem.plan_id, viewable_plan_ids),
    writable_rows=_in_plans(PlanItem.plan_id, editable_plan_ids),
    fields=(
        _id("PlanItemID", "plan item"),
        Field(
            "PlanID",
            INT,
            "plan_id",
            description="The plan.",
            writable=True,
            required=True,
            references="plan",
            nullable=False,
        ),
        Field(
            "ParentID",
            INT,
            "parent_id",
            description="The parent item; empty for a root.",
            writable=True,
            references="planitem",
        ),
        Field(
            "SequenceID",
            STR,
            "sequence_id",
            description="Dotted position, e.g. '1.2.3'; "
            "set from the parent when the item is created.",
            nullable=False,
        ),
        Field(
            "ExternalID",
            STR,
            "external_id",
            description="The ID batch files use; unique in "
            "the environment; a UUID is generated when none is given.",
            writable=True,
            max_length=200,
            nullable=False,
            unique=True,
        ),
        Field(
            "Name",
            STR,
            "name",
            description="Item name.",
            writable=True,
            required=True,
            max_length=500,
            nullable=False,
        ),
        Field(
            "Description",
            STR,
            "description",
            description="Item description.",
            writable=True,
            max_length=20000,
            nullable=False,
        ),
        Field(
            "Status",
            STR,
            "status",
            expression=lambda: _status_label(PlanItem.status),
            description="One of: " + ", ".join(STATUS_LABELS) + ".",
            writable=True,
            choices=STATUS_LABELS,
            nullable=False,
            to_db=hooks.status_code,
        ),
        Field("StartDate", DATE, "start_date", description="Start date.", writable=True),
        Field("DueDate", DATE, "due_date", description="Due date.", writable=True),
        Field(
            "HasMetric",
            BOOL,
            "has_metric",
            description="Whether the item tracks a metric.",
            writable=True,
            nullable=False,
        ),
        Field("Baseline", DEC, "baseline", description="Metric baseline.", writable=True),
        Field("Target", DEC, "target", description="Metric target.", writable=True),
        Field(
            "CurrentValue",
            DEC,
            "current_value",
            description="Latest metric value (set by progress and metric updates).",
        ),
        Field(
            "AssignedToID",
            INT,
            "assigned_to_id",
            description="The assignee.",
            writable=True,
            references="user",
        ),
        Field(
            "UpdateFrequency",
            STR,
            "update_frequency",
            description="NotRequired, Daily, Weekly, Biweekly, Monthly or Quarterly.",
            writable=True,
            choices=tuple(f.value for f in UpdateFrequency),
            nullable=False,
        ),
        Field(
            "LastUpdated",
            DATE,
            "last_update_on",
            description="As-of date of the latest progress update.",
        ),
        Field(
            "Updates",
            INT,
            "updates_count",
            description="Number of progress updates.",
            nullable=False,
        ),
        Field(
            "LastUpdateComment",
            STR,
            "last_update_comment",
            description="Comment of the latest progress update.",
        ),
        _created(),
    ),
    before_write=hooks.check_plan_item,
    blockers=(Blocker("child items", _count(PlanItem, PlanItem.parent_id)),),
)

PROGRESS_UPDATE = Module(
    name="progressupdate",
    display_name="progressUpdate",
    model=ProgressUpdate,
    id_field="ProgressUpdateID",
    description="Progress update history. Posting one updates the item as a batch row would; "
    "history is never changed or deleted.",
    access=_plan_access,
    visible_rows=_items_in_plans(viewable_plan_ids),
    writable_rows=_items_in_plans(editable_plan_ids),
    custom_fields=False,
    updatable=False,
    deletable=False,
    read_only_reason="progress updates are history and cannot be changed or deleted; "
    "post a new update instead",
    create=hooks.create_progress_update,
    fields=(
        _id("ProgressUpdateID", "progress update"),
        Field(
            "PlanItemID",
            INT,
            "item_id",
            description="The plan item.",
            writable=True,
            required=True,
            references="planitem",
            nullable=False,
        ),
        Field(
            "Status",
            STR,
            "status",
            expression=lambda: _status_label(ProgressUpdate.status),
            description="One of: " + ", ".join(STATUS_LABELS) + ".",
            writable=True,
            required=True,
            choices=STATUS_LABELS,
            nullable=False,
            to_db=hooks.status_code,
        ),
        Field(
            "Value", DEC, "value", description="Metric value (decimal; 0.2 for 20%).", writable=True
        ),
        Field(
            "AsOfDate",
            DATE,
            "as_of",
            description="The date the update is as of.",
            writable=True,
            required=True,
            nullable=False,
        ),
        Field("Comment", STR, "comment", description="Comment.", writable=True, max_length=20000),
        Field("AuthorID", INT, "author_id", description="Who made the update."),
        Field("Source", STR, "source", description="job, api, web or demo.", nullable=False),
        Field("JobID", STR, "job_id", description="The batch job that made it, if any."),
        _created(),
    ),
)

TAG = Module(
    name="tag",
    display_name="tag",
    model=Tag,
    id_field="TagID",
    description="Labels for plan items.",
    access=role_access(read=None, write=Action.MANAGE_PLANS),
    fields=(
        _id("TagID", "tag"),
        Field(
            "Name",
            STR,
            "name",
            description="Tag name, unique.",
            writable=True,
            required=True,
            max_length=100,
            nullable=False,
            unique=True,
        ),
    ),
)

API_KEY = Module(
    name="apikey",
    display_name="apiKey",
    model=ApiKey,
    id_field="ApiKeyID",
    description="API keys (SuperAdmins only). The key itself is in the creation answer only.",
    access=role_access(read=Action.MANAGE_API_KEYS, write=Action.MANAGE_API_KEYS),
    custom_fields=False,
    create=hooks.create_api_key,
    extra_create_answer=hooks.new_key_answer,
    fields=(
        _id("ApiKeyID", "API key"),
        Field(
            "Label",
            STR,
            "label",
            description="What the key is for, e.g. 'Finance System - Xero'.",
            writable=True,
            required=True,
            max_length=200,
            nullable=False,
        ),
        Field(
            "UserID",
            INT,
            "user_id",
            description="The user the key acts as.",
            writable=True,
            required=True,
            references="user",
            nullable=False,
        ),
        Field(
            "Enabled",
            BOOL,
            "enabled",
            description="Unchecking revokes the key at once.",
            writable=True,
            nullable=False,
        ),
        Field(
            "ExpirationDate",
            DATE,
            "expires_on",
            description="Last day the key works.",
            writable=True,
        ),
        Field(
            "IPWhitelist",
            STR,
            "ip_allowlist",
            description="Comma-separated addresses or CIDR ranges; empty allows any address.",
            writable=True,
            filterable=False,
            sortable=False,
            max_length=4000,
            to_db=hooks.parse_whitelist,
        ),
        Field(
            "Prefix",
            STR,
            "prefix",
            description="The key's first characters, to recognise it.",
            nullable=False,
        ),
        Field("Environment", STR, "environment", description="live or sandbox.", nullable=False),
        Field("LastUsed", DATETIME, "last_used_at", description="Last use (to the minute)."),
        _created(),
    ),
)

REGISTRY = Registry(
    (
        USER,
        COMPANY,
        TEAM,
        COURSE_TEMPLATE,
        COURSE_DATE,
        BOOKING,
        PLAN,
        PLAN_ITEM,
        PROGRESS_UPDATE,
        TAG,
        API_KEY,
    )
)
