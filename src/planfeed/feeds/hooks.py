"""Module-specific write rules of the feeds, called by the generic engine at fixed points.

Each hook enforces the same domain rule the rest of planfeed enforces (a booking never takes
the last space twice, a progress update moves its item exactly as a batch row does, …).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from planfeed.accounts.credentials import hash_password
from planfeed.accounts.models import Role, User, UserStatus
from planfeed.accounts.service import AccountError, parse_allowlist
from planfeed.accounts.service import create_api_key as make_api_key
from planfeed.auth.permissions import Action, PlanRole, allowed, plan_role
from planfeed.feeds.errors import FieldProblem, conflict, field_error, forbidden, invalid
from planfeed.ingest import BatchKind, ParsedRow, ParseResult
from planfeed.jobs.apply import apply_single_update
from planfeed.plans.models import PlanItem, PlanLevel, UpdateSource
from planfeed.plans.sequence import sequence_key
from planfeed.plans.statuses import Status
from planfeed.training.models import BookingStatus, CourseDate, CourseDateStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

    from planfeed.feeds.engine import WriteContext

_LOGIN = re.compile(r"^[A-Za-z0-9._@+-]{1,100}$")
MIN_PASSWORD = 8


# --- value conversions (Field.to_db) -----------------------------------------------------------


def status_code(label: str) -> int:
    status = Status.from_label(label)
    if status is None:
        raise ValueError(f"{label!r} is not a status")
    return status.value


def hash_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"must be at least {MIN_PASSWORD} characters long")
    return hash_password(password)


def parse_whitelist(text: str) -> list[str]:
    try:
        return parse_allowlist(text.split(","))
    except AccountError as exc:
        raise ValueError(exc.message) from None


# --- users -------------------------------------------------------------------------------------


def check_user(ctx: WriteContext) -> None:
    user: User = ctx.obj
    problems: list[FieldProblem] = []
    if ctx.sent("Username") and not _LOGIN.match(user.login):
        problems.append(
            FieldProblem(
                "Username", f"{user.login!r} is not valid: use 1-100 letters, digits or . _ @ + -"
            )
        )
    if ctx.sent("Email") and "@" not in user.email:
        problems.append(FieldProblem("Email", f"{user.email!r} is not an email address"))
    if problems:
        raise invalid(problems)
    granting = ctx.values.get("Role")
    touches_super = Role.SUPER_ADMIN.value in (granting, ctx.before.get("role"))
    if (
        ctx.sent("Role")
        and touches_super
        and not allowed(ctx.principal, Action.MANAGE_SUPER_ADMINS)
    ):
        raise forbidden("only a SuperAdmin may grant or remove the SuperAdmin role")
    if ctx.creating:
        user.status = user.status or UserStatus.ACTIVE.value
        user.role = user.role or Role.USER.value
        user.forenames = user.forenames or ""
        user.surname = user.surname or ""


def soft_delete_user(user: User) -> bool:
    """The first DELETE marks the user Deleted (seed 004); the second removes the record."""
    if user.status == UserStatus.DELETED.value:
        return False
    user.status = UserStatus.DELETED.value
    return True


# --- training ----------------------------------------------------------------------------------


def check_course_date(ctx: WriteContext) -> None:
    course_date: CourseDate = ctx.obj
    if course_date.course_template_id is None:
        raise field_error("CourseTemplateID", "is required (or give the course's CourseID)")
    if course_date.end_date < course_date.start_date:
        raise field_error("EndDate", "is before StartDate")
    capacity = course_date.capacity if course_date.capacity is not None else 12
    booked = course_date.booked_count or 0
    if capacity < booked:
        raise field_error(
            "Capacity", f"is {capacity} but {booked} places are booked; it cannot be lower"
        )
    if capacity < 0:
        raise field_error("Capacity", "may not be negative")


_HOLDS_SPACE = frozenset({BookingStatus.BOOKED.value, BookingStatus.ATTENDED.value})


def _take_space(ctx: WriteContext, course_date_id: int) -> None:
    """One atomic UPDATE, so two bookings can never both take the last space."""
    taken = ctx.session.execute(
        update(CourseDate)
        .where(
            CourseDate.id == course_date_id,
            CourseDate.booked_count < CourseDate.capacity,
            CourseDate.status == CourseDateStatus.AVAILABLE.value,
        )
        .values(booked_count=CourseDate.booked_count + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        row = ctx.session.execute(
            select(CourseDate.status, CourseDate.capacity, CourseDate.booked_count).where(
                CourseDate.id == course_date_id
            )
        ).one()
        if row.status != CourseDateStatus.AVAILABLE.value:
            raise conflict(
                f"course date {course_date_id} is {row.status}; it takes no bookings",
                "CourseDateID",
            )
        raise conflict(
            f"course date {course_date_id} is full ({row.booked_count} of {row.capacity} "
            "places booked)",
            "CourseDateID",
        )


def _free_space(ctx: WriteContext, course_date_id: int) -> None:
    ctx.session.execute(
        update(CourseDate)
        .where(CourseDate.id == course_date_id, CourseDate.booked_count > 0)
        .values(booked_count=CourseDate.booked_count - 1)
        .execution_options(synchronize_session=False)
    )


def check_booking(ctx: WriteContext) -> None:
    booking = ctx.obj
    booking.status = booking.status or BookingStatus.BOOKED.value
    holds_now = booking.status in _HOLDS_SPACE
    if ctx.creating:
        if holds_now:
            _take_space(ctx, booking.course_date_id)
        return
    old_date = ctx.before.get("course_date_id", booking.course_date_id)
    held_before = ctx.before.get("status", booking.status) in _HOLDS_SPACE
    if held_before and (not holds_now or old_date != booking.course_date_id):
        _free_space(ctx, old_date)
    if holds_now and (not held_before or old_date != booking.course_date_id):
        _take_space(ctx, booking.course_date_id)


def release_booking(ctx: WriteContext) -> None:
    if ctx.obj.status in _HOLDS_SPACE:
        _free_space(ctx, ctx.obj.course_date_id)


# --- plans -------------------------------------------------------------------------------------


def check_plan(ctx: WriteContext) -> None:
    if ctx.creating and not allowed(ctx.principal, Action.MANAGE_PLANS):
        raise forbidden(f"user {ctx.principal.login!r} ({ctx.principal.role}) may not create plans")


def _require_plan_admin(ctx: WriteContext, plan_id: int) -> None:
    if plan_role(ctx.session, ctx.principal, plan_id) < PlanRole.ADMIN:
        raise forbidden(f"user {ctx.principal.login!r} may not edit plan {plan_id}")


def check_plan_item(ctx: WriteContext) -> None:
    item: PlanItem = ctx.obj
    session = ctx.session
    if not ctx.creating:
        for name, attribute in (("PlanID", "plan_id"), ("ParentID", "parent_id")):
            if attribute in ctx.before and ctx.before[attribute] != getattr(item, attribute):
                raise field_error(
                    name,
                    "items cannot be moved through the feeds; set it only when creating the item",
                )
        return
    _require_plan_admin(ctx, item.plan_id)
    depth = 1
    if item.parent_id is not None:
        parent = session.get(PlanItem, item.parent_id)
        if parent is None or parent.plan_id != item.plan_id:
            raise field_error("ParentID", f"item {item.parent_id} is not in plan {item.plan_id}")
        prefix = parent.sequence_id + "."
        siblings = select(PlanItem.sequence_id).where(PlanItem.parent_id == item.parent_id)
        depth = parent.sequence_id.count(".") + 2
    else:
        prefix = ""
        siblings = select(PlanItem.sequence_id).where(
            PlanItem.plan_id == item.plan_id, PlanItem.parent_id.is_(None)
        )
    last = max((int(s.rsplit(".", 1)[-1]) for s in session.scalars(siblings)), default=0)
    item.sequence_id = f"{prefix}{last + 1}"
    item.sequence_key = sequence_key(item.sequence_id)
    item.level_id = session.scalar(
        select(PlanLevel.id).where(PlanLevel.plan_id == item.plan_id, PlanLevel.depth == depth)
    )
    if ctx.sent("ExternalID") and not (item.external_id or "").strip():
        raise field_error("ExternalID", "may not be empty; leave it out to get a generated UUID")


def create_progress_update(ctx: WriteContext) -> int:
    """A progress update posted through the feeds goes through the batch validation and apply
    path as a one-row file, so both APIs move an item in exactly the same way."""
    values = ctx.values
    item = ctx.session.get(PlanItem, ctx.before["item_id"])
    assert item is not None
    row = ParsedRow(
        row=1,
        external_id=item.external_id,
        status=Status.from_label(values["Status"]),
        metric_value=values.get("Value"),
        as_of=values["AsOfDate"],
        comment=values.get("Comment"),
    )
    result = ParseResult(kind=BatchKind.PROGRESS, rows=[row], total_rows=1)
    errors, new_id = apply_single_update(ctx.session, ctx.principal, result, UpdateSource.API)
    if new_id is None:
        field_names = {"Current Metric Value": "Value", "Status": "Status"}
        raise invalid(
            [
                FieldProblem(field_names.get(error.column or "", "PlanItemID"), error.message)
                for error in errors
            ]
        )
    return new_id


# --- API keys ----------------------------------------------------------------------------------


def create_api_key(ctx: WriteContext) -> int:
    """Keys are made by the accounts service (hashing, prefix, audit); the key is shown once."""
    values = ctx.values
    user = ctx.session.get(User, ctx.before["user_id"])
    assert user is not None
    try:
        key, plaintext = make_api_key(
            ctx.session,
            ctx.principal,
            ctx.secret_key,
            user=user,
            label=values["Label"],
            environment=ctx.principal.environment,
            expires_on=values.get("ExpirationDate"),
            ip_allowlist=ctx.before.get("ip_allowlist") or (),
            enabled=values.get("Enabled", True),
        )
    except AccountError as exc:
        names = {
            "label": "Label",
            "expiration_date": "ExpirationDate",
            "ip_whitelist": "IPWhitelist",
        }
        raise field_error(names.get(exc.field, exc.field), exc.message) from None
    ctx.answer["ApiKey"] = plaintext
    return key.id


def new_key_answer(ctx: WriteContext) -> Mapping[str, Any]:
    return {
        "ApiKey": ctx.answer.get("ApiKey"),
        "Warning": "copy the key now: it is not shown again",
    }
