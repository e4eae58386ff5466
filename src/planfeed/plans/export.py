"""The plan item export of seed 003: ``GET /exports/plans/{planId}``, one page at a time.

Every field of the seed's item schema is produced. A page is one SQL query for the items
(with names joined in) plus one query per nested list (goals, members and admins, checklists,
tags) for just that page's items. The order is always completed by the item's primary key, so
walking every page returns each item exactly once.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, aliased

from planfeed.accounts.models import Team, User
from planfeed.plans.models import (
    Checklist,
    ChecklistEntry,
    MetricGoal,
    Plan,
    PlanItem,
    PlanItemAccess,
    PlanItemTag,
    PlanLevel,
    Tag,
)
from planfeed.plans.schedule import is_past_due, update_counts
from planfeed.plans.statuses import Status

DEFAULT_TAKE = 100
MAX_TAKE = 1500

_assignee = aliased(User, name="assignee")
_assigner = aliased(User, name="assigner")
_last_user = aliased(User, name="last_user")
_parent = aliased(PlanItem, name="parent")
_dependency = aliased(PlanItem, name="dependency")


def _full_name(user: Any) -> ColumnElement[str]:
    return func.trim(user.forenames + " " + user.surname)


_depth = func.length(PlanItem.sequence_id) - func.length(
    func.replace(PlanItem.sequence_id, ".", "")
)

SORT_KEYS: dict[str, ColumnElement[Any]] = {
    "name": PlanItem.name,
    "sequenceId": PlanItem.sequence_key,
    "level": _depth,
    "status": PlanItem.status,
    "start": PlanItem.start_date,
    "due": PlanItem.due_date,
    "currentValue": PlanItem.current_value,
    "lastUpdated": PlanItem.updated_at,
    "assignedToFullName": _full_name(_assignee),
    "updates": PlanItem.updates_count,
    "alignsTo": _parent.name,
    "assignedByFullName": _full_name(_assigner),
    "assignedToEmailAddress": _assignee.email,
    "baseline": PlanItem.baseline,
    "target": PlanItem.target,
    "created": PlanItem.created_at,
    "dependentOn": _dependency.name,
    "description": PlanItem.description,
    "indentedName": _depth,
    "lastProgressUpdateUser": _full_name(_last_user),
    "updateFrequencyDescription": PlanItem.update_frequency,
    "planName": Plan.name,
}
SORT_DIRECTIONS = ("asc", "desc")


@dataclass(frozen=True, slots=True)
class ExportPage:
    items: list[dict[str, Any]]
    total_count: int


def _number(value: float | None) -> str:
    """Metric numbers as strings, as the seed shows them ("0", "12.5")."""
    if value is None:
        return "0"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _page_query(plan: Plan) -> Select[Any]:
    """Items of ``plan`` with the joined names; the row number is the item's place in tree
    order, computed by a window over the whole plan before the page's ORDER BY and LIMIT."""
    row_number = func.row_number().over(order_by=(PlanItem.sequence_key, PlanItem.id))
    return (
        select(
            PlanItem,
            row_number.label("row_number"),
            PlanLevel.name.label("level_name"),
            PlanLevel.public_id.label("level_public_id"),
            _parent.public_id.label("parent_public_id"),
            _parent.name.label("parent_name"),
            _dependency.public_id.label("dependency_public_id"),
            _dependency.name.label("dependency_name"),
            _full_name(_assignee).label("assignee_name"),
            _full_name(_assigner).label("assigner_name"),
        )
        .join(Plan, Plan.id == PlanItem.plan_id)
        .outerjoin(PlanLevel, PlanLevel.id == PlanItem.level_id)
        .outerjoin(_parent, _parent.id == PlanItem.parent_id)
        .outerjoin(_dependency, _dependency.id == PlanItem.dependent_on_id)
        .outerjoin(_assignee, _assignee.id == PlanItem.assigned_to_id)
        .outerjoin(_assigner, _assigner.id == PlanItem.assigned_by_id)
        .outerjoin(_last_user, _last_user.id == PlanItem.last_progress_user_id)
        .where(PlanItem.plan_id == plan.id)
    )


def export_page(
    session: Session,
    plan: Plan,
    *,
    skip: int = 0,
    take: int = DEFAULT_TAKE,
    sort_key: str = "sequenceId",
    sort_direction: str = "asc",
    today: dt.date | None = None,
) -> ExportPage:
    """One page of the export; the caller has validated the parameters and the access."""
    today = today or dt.date.today()
    total = session.scalar(
        select(func.count()).select_from(PlanItem).where(PlanItem.plan_id == plan.id)
    )
    descending = sort_direction == "desc"
    sort_column = SORT_KEYS[sort_key]
    order = [
        sort_column.desc() if descending else sort_column.asc(),
        PlanItem.id.desc() if descending else PlanItem.id.asc(),
    ]
    rows = session.execute(_page_query(plan).order_by(*order).offset(skip).limit(take)).all()
    nested = _nested(session, [row[0].id for row in rows])
    items = [_item_json(row[0], row._mapping, plan, nested, today) for row in rows]
    return ExportPage(items=items, total_count=total or 0)


@dataclass
class _Nested:
    goals: dict[int, list[dict[str, Any]]]
    members: dict[int, list[dict[str, Any]]]
    admins: dict[int, list[dict[str, Any]]]
    checklists: dict[int, list[dict[str, Any]]]
    tags: dict[int, list[dict[str, Any]]]


def _nested(session: Session, item_ids: list[int]) -> _Nested:
    nested = _Nested(*(defaultdict(list) for _ in range(5)))
    if not item_ids:
        return nested
    for chunk in _chunks(item_ids, 900):
        for goal in session.scalars(
            select(MetricGoal)
            .where(MetricGoal.item_id.in_(chunk))
            .order_by(MetricGoal.sort_order, MetricGoal.id)
        ):
            nested.goals[goal.item_id].append(
                {
                    "goalId": goal.public_id,
                    "goalName": goal.name,
                    "goalColor": goal.color,
                    "metricBucketValue": goal.bucket_value,
                    "sortOrder": goal.sort_order,
                }
            )
        access_rows = session.execute(
            select(
                PlanItemAccess.item_id,
                PlanItemAccess.is_admin,
                PlanItemAccess.user_id,
                _full_name(User).label("user_name"),
                PlanItemAccess.team_id,
                Team.name.label("team_name"),
            )
            .outerjoin(User, User.id == PlanItemAccess.user_id)
            .outerjoin(Team, Team.id == PlanItemAccess.team_id)
            .where(PlanItemAccess.item_id.in_(chunk))
            .order_by(PlanItemAccess.id)
        )
        for row in access_rows:
            entry = (
                {"id": str(row.user_id), "name": row.user_name, "type": "User"}
                if row.user_id is not None
                else {"id": str(row.team_id), "name": row.team_name, "type": "Team"}
            )
            (nested.admins if row.is_admin else nested.members)[row.item_id].append(entry)
        checklists = session.scalars(
            select(Checklist)
            .where(Checklist.item_id.in_(chunk))
            .order_by(Checklist.sort_index, Checklist.id)
        ).all()
        entries: dict[int, list[ChecklistEntry]] = defaultdict(list)
        if checklists:
            for entry in session.scalars(
                select(ChecklistEntry)
                .where(ChecklistEntry.checklist_id.in_([c.id for c in checklists]))
                .order_by(ChecklistEntry.sort_index, ChecklistEntry.id)
            ):
                entries[entry.checklist_id].append(entry)
        for checklist in checklists:
            nested.checklists[checklist.item_id].append(
                {
                    "id": checklist.public_id,
                    "name": checklist.name,
                    "sortIndex": checklist.sort_index,
                    "items": [
                        {
                            "id": e.public_id,
                            "name": e.name,
                            "sortIndex": e.sort_index,
                            "doneOn": _iso(e.done_on),
                        }
                        for e in entries[checklist.id]
                    ],
                }
            )
        for item_id, tag in session.execute(
            select(PlanItemTag.item_id, Tag)
            .join(Tag, Tag.id == PlanItemTag.tag_id)
            .where(PlanItemTag.item_id.in_(chunk))
            .order_by(Tag.name)
        ):
            nested.tags[item_id].append(
                {"id": tag.public_id, "organizationId": str(tag.organisation_id), "name": tag.name}
            )
    return nested


def _chunks(values: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _item_json(
    item: PlanItem, extra: Any, plan: Plan, nested: _Nested, today: dt.date
) -> dict[str, Any]:
    depth = item.sequence_id.count(".")
    late, pending = update_counts(
        item.update_frequency,
        item.last_update_on or item.start_date or item.created_at.date(),
        item.grace_days,
        item.status,
        today,
    )
    status = Status(item.status)
    return {
        "id": item.public_id,
        "sourceId": item.public_id,
        "rowNumber": extra["row_number"],
        "sequenceId": item.sequence_id,
        "planId": plan.public_id,
        "planName": plan.name,
        "sourcePlanId": None,
        "sourcePlanName": None,
        "alignsTo": extra["parent_name"],
        "alignsToId": extra["parent_public_id"],
        "dependentOn": extra["dependency_name"],
        "dependentOnId": extra["dependency_public_id"],
        "levelId": extra["level_public_id"] or "",
        "level": extra["level_name"] or "",
        "name": item.name,
        "indentedName": "    " * depth + item.name,
        "description": item.description,
        "status": status.value,
        "statusName": status.label,
        "start": _iso(item.start_date),
        "due": _iso(item.due_date),
        "created": _iso(item.created_at),
        "hasMetric": item.has_metric,
        "hasAdvancedMetric": bool(nested.goals.get(item.id)),
        "units": item.units,
        "detail": item.detail,
        "baseline": _number(item.baseline),
        "target": _number(item.target),
        "currentValue": _number(item.current_value),
        "advancedMetricGoals": nested.goals.get(item.id, []),
        "lastUpdated": _iso(item.updated_at),
        "assignedToId": str(item.assigned_to_id) if item.assigned_to_id else None,
        "assignedToFullName": extra["assignee_name"],
        "assignedById": str(item.assigned_by_id) if item.assigned_by_id else None,
        "assignedByFullName": extra["assigner_name"],
        "members": nested.members.get(item.id, []),
        "admins": nested.admins.get(item.id, []),
        "updateFrequency": item.update_frequency,
        "updateFrequencyDescription": item.update_frequency,
        "isPastDue": is_past_due(item.due_date, item.status, today),
        "lateUpdates": late,
        "pendingUpdates": pending,
        "updates": item.updates_count,
        "lastCommentId": str(item.last_comment_id) if item.last_comment_id else None,
        "lastComment": item.last_comment,
        "lastUpdateCommentId": (
            str(item.last_update_comment_id) if item.last_update_comment_id else None
        ),
        "lastUpdateComment": item.last_update_comment,
        "files": item.files_count,
        "checklists": nested.checklists.get(item.id, []),
        "tags": nested.tags.get(item.id, []),
        "isOrphan": False,
    }


def external_ids_csv(session: Session, plan: Plan) -> tuple[bytes, str]:
    """The "Export External IDs" file (External ID, Sequence, Level, Name) and its file name;
    the caller has checked that the user administers the plan."""
    rows = session.execute(
        select(PlanItem.external_id, PlanItem.sequence_id, PlanLevel.name, PlanItem.name)
        .outerjoin(PlanLevel, PlanLevel.id == PlanItem.level_id)
        .where(PlanItem.plan_id == plan.id)
        .order_by(PlanItem.sequence_key, PlanItem.id)
    ).all()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["External ID", "Sequence", "Level", "Name"])
    writer.writerows([[e, s, level or "", name] for e, s, level, name in rows])
    safe_name = "".join(c if c.isalnum() or c in "-_" else "_" for c in plan.name)
    return buffer.getvalue().encode("utf-8"), f"{safe_name}-external-ids.csv"
