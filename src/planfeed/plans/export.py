"""The plan item export of seed 003: ``GET /exports/plans/{planId}``, one page at a time.

Every field of the seed's item schema is produced. A page costs a fixed number of queries, each
bounded by the page (see bench/bench_export.py): the page's item ids (in the default order an
index range of the (plan, scope, sequence) index), the items with their names joined in, and one
query per nested list (goals, members and admins, checklists, tags) for just those items. The
order is always completed by the item's primary key, so walking every page returns each item
exactly once.
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
from planfeed.db.values import one_of
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


# The joins a sort key needs in the query that picks a page's item ids.
_SORT_JOINS: dict[str, tuple[tuple[Any, Any], ...]] = {
    "assignedToFullName": ((_assignee, _assignee.id == PlanItem.assigned_to_id),),
    "assignedToEmailAddress": ((_assignee, _assignee.id == PlanItem.assigned_to_id),),
    "alignsTo": ((_parent, _parent.id == PlanItem.parent_id),),
    "assignedByFullName": ((_assigner, _assigner.id == PlanItem.assigned_by_id),),
    "dependentOn": ((_dependency, _dependency.id == PlanItem.dependent_on_id),),
    "lastProgressUpdateUser": ((_last_user, _last_user.id == PlanItem.last_progress_user_id),),
    "planName": ((Plan, Plan.id == PlanItem.plan_id),),
}

_ITEM_COLUMNS = (
    PlanItem.id,
    PlanItem.public_id,
    PlanItem.sequence_id,
    PlanItem.name,
    PlanItem.description,
    PlanItem.status,
    PlanItem.start_date,
    PlanItem.due_date,
    PlanItem.created_at,
    PlanItem.updated_at,
    PlanItem.has_metric,
    PlanItem.units,
    PlanItem.detail,
    PlanItem.baseline,
    PlanItem.target,
    PlanItem.current_value,
    PlanItem.assigned_to_id,
    PlanItem.assigned_by_id,
    PlanItem.update_frequency,
    PlanItem.grace_days,
    PlanItem.updates_count,
    PlanItem.last_update_on,
    PlanItem.last_comment_id,
    PlanItem.last_comment,
    PlanItem.last_update_comment_id,
    PlanItem.last_update_comment,
    PlanItem.files_count,
)


def _page_ids(plan: Plan, sort_key: str, descending: bool) -> Select[Any]:
    """The ids of the plan's items in the requested order (the caller adds OFFSET/LIMIT).

    Only the joins the sort key needs are made, so the default order reads nothing but the
    (plan, scope, sequence) index."""
    sort_column = SORT_KEYS[sort_key]
    query = select(PlanItem.id).where(PlanItem.plan_id == plan.id)
    for target, on in _SORT_JOINS.get(sort_key, ()):
        query = query.outerjoin(target, on)
    return query.order_by(
        sort_column.desc() if descending else sort_column.asc(),
        PlanItem.id.desc() if descending else PlanItem.id.asc(),
    )


def _page_details(item_ids: list[int], dialect: str) -> Select[Any]:
    """The page's items as plain columns, with the names their ids point at joined in."""
    return (
        select(
            *_ITEM_COLUMNS,
            PlanLevel.name.label("level_name"),
            PlanLevel.public_id.label("level_public_id"),
            _parent.public_id.label("parent_public_id"),
            _parent.name.label("parent_name"),
            _dependency.public_id.label("dependency_public_id"),
            _dependency.name.label("dependency_name"),
            _full_name(_assignee).label("assignee_name"),
            _full_name(_assigner).label("assigner_name"),
        )
        .outerjoin(PlanLevel, PlanLevel.id == PlanItem.level_id)
        .outerjoin(_parent, _parent.id == PlanItem.parent_id)
        .outerjoin(_dependency, _dependency.id == PlanItem.dependent_on_id)
        .outerjoin(_assignee, _assignee.id == PlanItem.assigned_to_id)
        .outerjoin(_assigner, _assigner.id == PlanItem.assigned_by_id)
        .where(one_of(PlanItem.id, item_ids, dialect))
    )


def _row_numbers(
    session: Session,
    plan: Plan,
    item_ids: list[int],
    *,
    sort_key: str,
    descending: bool,
    skip: int,
    total: int,
) -> dict[int, int]:
    """Each item's place in tree order (1-based). In the default order that is the page
    position; otherwise one window over the plan's (plan, scope, sequence) index."""
    if sort_key == "sequenceId":
        if descending:
            return {item_id: total - skip - n for n, item_id in enumerate(item_ids)}
        return {item_id: skip + n + 1 for n, item_id in enumerate(item_ids)}
    numbered = (
        select(
            PlanItem.id.label("item_id"),
            func.row_number()
            .over(order_by=(PlanItem.sequence_key, PlanItem.id))
            .label("row_number"),
        )
        .where(PlanItem.plan_id == plan.id)
        .subquery("numbered")
    )
    return dict(
        session.execute(
            select(numbered.c.item_id, numbered.c.row_number).where(
                one_of(numbered.c.item_id, item_ids, session.get_bind().dialect.name)
            )
        ).all()
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
    """One page of the export; the caller has validated the parameters and the access.

    Three steps, each bounded by the page: the ids of the page (an index range in the default
    order), the page's items with their joined names, and the nested lists in bulk."""
    today = today or dt.date.today()
    total = (
        session.scalar(
            select(func.count()).select_from(PlanItem).where(PlanItem.plan_id == plan.id)
        )
        or 0
    )
    descending = sort_direction == "desc"
    item_ids = list(session.scalars(_page_ids(plan, sort_key, descending).offset(skip).limit(take)))
    if not item_ids:
        return ExportPage(items=[], total_count=total)
    dialect = session.get_bind().dialect.name
    rows = {row[0]: tuple(row) for row in session.execute(_page_details(item_ids, dialect))}
    numbers = _row_numbers(
        session,
        plan,
        item_ids,
        sort_key=sort_key,
        descending=descending,
        skip=skip,
        total=total,
    )
    nested = _nested(session, item_ids, dialect)
    items = [
        _item_json(rows[item_id], numbers[item_id], plan, nested, today) for item_id in item_ids
    ]
    return ExportPage(items=items, total_count=total)


@dataclass
class _Nested:
    goals: dict[int, list[dict[str, Any]]]
    members: dict[int, list[dict[str, Any]]]
    admins: dict[int, list[dict[str, Any]]]
    checklists: dict[int, list[dict[str, Any]]]
    tags: dict[int, list[dict[str, Any]]]


def _nested(session: Session, item_ids: list[int], dialect: str) -> _Nested:
    nested = _Nested(*(defaultdict(list) for _ in range(5)))
    if not item_ids:
        return nested
    for chunk in _chunks(item_ids, MAX_TAKE):
        for goal in session.scalars(
            select(MetricGoal)
            .where(one_of(MetricGoal.item_id, chunk, dialect))
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
            .where(one_of(PlanItemAccess.item_id, chunk, dialect))
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
            .where(one_of(Checklist.item_id, chunk, dialect))
            .order_by(Checklist.sort_index, Checklist.id)
        ).all()
        entries: dict[int, list[ChecklistEntry]] = defaultdict(list)
        if checklists:
            for entry in session.scalars(
                select(ChecklistEntry)
                .where(one_of(ChecklistEntry.checklist_id, [c.id for c in checklists], dialect))
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
            .where(one_of(PlanItemTag.item_id, chunk, dialect))
            .order_by(Tag.name)
        ):
            nested.tags[item_id].append(
                {"id": tag.public_id, "organizationId": str(tag.organisation_id), "name": tag.name}
            )
    return nested


def _chunks(values: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


_STATUS_JSON = {status.value: (status.value, status.label) for status in Status}


def _item_json(
    item: tuple[Any, ...], row_number: int, plan: Plan, nested: _Nested, today: dt.date
) -> dict[str, Any]:
    """One item of the page; ``item`` is a row of :func:`_page_details`, unpacked by position
    (1,500 items a page: attribute access by name would be a third of the page's time)."""
    (
        item_id,
        public_id,
        sequence_id,
        name,
        description,
        status_code,
        start_date,
        due_date,
        created_at,
        updated_at,
        has_metric,
        units,
        detail,
        baseline,
        target,
        current_value,
        assigned_to_id,
        assigned_by_id,
        update_frequency,
        grace_days,
        updates_count,
        last_update_on,
        last_comment_id,
        last_comment,
        last_update_comment_id,
        last_update_comment,
        files_count,
        level_name,
        level_public_id,
        parent_public_id,
        parent_name,
        dependency_public_id,
        dependency_name,
        assignee_name,
        assigner_name,
    ) = item
    late, pending = update_counts(
        update_frequency,
        last_update_on or start_date or created_at.date(),
        grace_days,
        status_code,
        today,
    )
    status, status_name = _STATUS_JSON[status_code]
    goals = nested.goals.get(item_id, [])
    return {
        "id": public_id,
        "sourceId": public_id,
        "rowNumber": row_number,
        "sequenceId": sequence_id,
        "planId": plan.public_id,
        "planName": plan.name,
        "sourcePlanId": None,
        "sourcePlanName": None,
        "alignsTo": parent_name,
        "alignsToId": parent_public_id,
        "dependentOn": dependency_name,
        "dependentOnId": dependency_public_id,
        "levelId": level_public_id or "",
        "level": level_name or "",
        "name": name,
        "indentedName": "    " * sequence_id.count(".") + name,
        "description": description,
        "status": status,
        "statusName": status_name,
        "start": _iso(start_date),
        "due": _iso(due_date),
        "created": _iso(created_at),
        "hasMetric": has_metric,
        "hasAdvancedMetric": bool(goals),
        "units": units,
        "detail": detail,
        "baseline": _number(baseline),
        "target": _number(target),
        "currentValue": _number(current_value),
        "advancedMetricGoals": goals,
        "lastUpdated": _iso(updated_at),
        "assignedToId": str(assigned_to_id) if assigned_to_id else None,
        "assignedToFullName": assignee_name,
        "assignedById": str(assigned_by_id) if assigned_by_id else None,
        "assignedByFullName": assigner_name,
        "members": nested.members.get(item_id, []),
        "admins": nested.admins.get(item_id, []),
        "updateFrequency": update_frequency,
        "updateFrequencyDescription": update_frequency,
        "isPastDue": is_past_due(due_date, status_code, today),
        "lateUpdates": late,
        "pendingUpdates": pending,
        "updates": updates_count,
        "lastCommentId": str(last_comment_id) if last_comment_id else None,
        "lastComment": last_comment,
        "lastUpdateCommentId": str(last_update_comment_id) if last_update_comment_id else None,
        "lastUpdateComment": last_update_comment,
        "files": files_count,
        "checklists": nested.checklists.get(item_id, []),
        "tags": nested.tags.get(item_id, []),
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
