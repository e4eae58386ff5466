"""Read models for the web pages: plan cards, a plan's item tree with filters, one item's details.

Past-due and late-update markers come from :mod:`planfeed.plans.schedule`, as in the export.
Callers pass a session bound to the caller's scope and have checked the plan access.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from planfeed.accounts.models import User
from planfeed.plans.history import MetricPoint, metric_history
from planfeed.plans.models import (
    Checklist,
    MetricUnit,
    Plan,
    PlanItem,
    PlanItemTag,
    PlanLevel,
    ProgressUpdate,
    Tag,
)
from planfeed.plans.schedule import is_past_due, update_counts
from planfeed.plans.statuses import Status


@dataclass
class PlanCard:
    plan: Plan
    total: int = 0
    by_status: dict[Status, int] = field(default_factory=dict)


def plan_cards(session: Session, viewable: Select[tuple[int]] | None) -> list[PlanCard]:
    """Every plan the caller may view (``None``: all), with item counts by status."""
    query = select(Plan).order_by(Plan.name, Plan.id)
    if viewable is not None:
        query = query.where(Plan.id.in_(viewable))
    cards = {plan.id: PlanCard(plan) for plan in session.scalars(query)}
    if not cards:
        return []
    counts = session.execute(
        select(PlanItem.plan_id, PlanItem.status, func.count())
        .where(PlanItem.plan_id.in_(list(cards)))
        .group_by(PlanItem.plan_id, PlanItem.status)
    )
    for plan_id, status, count in counts:
        card = cards[plan_id]
        card.by_status[Status(status)] = count
        card.total += count
    for card in cards.values():
        card.by_status = dict(sorted(card.by_status.items()))
    return list(cards.values())


@dataclass(frozen=True, slots=True)
class ItemRow:
    item: PlanItem
    depth: int
    level: str
    assignee: str | None
    past_due: bool
    late_updates: int
    pending_updates: int

    @property
    def progress(self) -> float | None:
        return metric_progress(self.item)


def metric_progress(item: PlanItem) -> float | None:
    """Where the current value stands between baseline (0) and target (1), clamped; works for
    decreasing metrics (target below baseline) too."""
    if not item.has_metric or item.baseline is None or item.target is None:
        return None
    span = item.target - item.baseline
    if span == 0:
        return 1.0 if item.current_value == item.target else 0.0
    current = item.current_value if item.current_value is not None else item.baseline
    return min(1.0, max(0.0, (current - item.baseline) / span))


def unit_symbol(item: PlanItem) -> str:
    try:
        return MetricUnit(item.units).symbol if item.units is not None else ""
    except ValueError:
        return ""


@dataclass(frozen=True, slots=True)
class ItemFilter:
    status: Status | None = None
    level_id: int | None = None
    assignee_id: int | None = None


def plan_rows(
    session: Session,
    plan: Plan,
    filters: ItemFilter,
    today: dt.date | None = None,
    item_id: int | None = None,
) -> list[ItemRow]:
    """The plan's items in tree order (level and sequence), filtered (or just ``item_id``)."""
    today = today or dt.date.today()
    assignee_name = func.trim(User.forenames + " " + User.surname)
    query = (
        select(PlanItem, PlanLevel.name, assignee_name, User.login)
        .outerjoin(PlanLevel, PlanLevel.id == PlanItem.level_id)
        .outerjoin(User, User.id == PlanItem.assigned_to_id)
        .where(PlanItem.plan_id == plan.id)
        .order_by(PlanItem.sequence_key, PlanItem.id)
    )
    if item_id is not None:
        query = query.where(PlanItem.id == item_id)
    if filters.status is not None:
        query = query.where(PlanItem.status == filters.status.value)
    if filters.level_id is not None:
        query = query.where(PlanItem.level_id == filters.level_id)
    if filters.assignee_id is not None:
        query = query.where(PlanItem.assigned_to_id == filters.assignee_id)
    rows = []
    for item, level, name, login in session.execute(query):
        late, pending = update_counts(
            item.update_frequency,
            item.last_update_on or item.start_date or item.created_at.date(),
            item.grace_days,
            item.status,
            today,
        )
        rows.append(
            ItemRow(
                item=item,
                depth=item.sequence_id.count(".") + 1,
                level=level or "",
                assignee=(name or login) if login else None,
                past_due=is_past_due(item.due_date, item.status, today),
                late_updates=late,
                pending_updates=pending,
            )
        )
    return rows


def plan_assignees(session: Session, plan: Plan) -> list[User]:
    """The users items of the plan are assigned to, for the assignee filter."""
    assigned = select(PlanItem.assigned_to_id).where(PlanItem.plan_id == plan.id)
    return list(
        session.scalars(
            select(User).where(User.id.in_(assigned)).order_by(User.surname, User.forenames)
        )
    )


@dataclass
class ItemDetail:
    row: ItemRow
    plan: Plan
    parent: PlanItem | None
    checklists: list[Checklist]
    tags: list[str]
    progress_history: list[tuple[ProgressUpdate, str | None]]
    metric_history: list[tuple[MetricPoint, str | None]]


def item_detail(session: Session, item: PlanItem, today: dt.date | None = None) -> ItemDetail:
    """Everything the item page shows: details, checklists, tags and both histories."""
    plan = session.get(Plan, item.plan_id)
    assert plan is not None
    (row,) = plan_rows(session, plan, ItemFilter(), today, item_id=item.id)
    authors: dict[int, str] = {}

    def author(user_id: int | None) -> str | None:
        if user_id is None:
            return None
        if user_id not in authors:
            user = session.get(User, user_id)
            authors[user_id] = user.full_name if user is not None else f"user {user_id}"
        return authors[user_id]

    progress = session.scalars(
        select(ProgressUpdate)
        .where(ProgressUpdate.item_id == item.id)
        .order_by(ProgressUpdate.as_of.desc(), ProgressUpdate.id.desc())
    ).all()
    tags = session.scalars(
        select(Tag.name)
        .join(PlanItemTag, PlanItemTag.tag_id == Tag.id)
        .where(PlanItemTag.item_id == item.id)
        .order_by(Tag.name)
    ).all()
    checklists = session.scalars(
        select(Checklist)
        .where(Checklist.item_id == item.id)
        .order_by(Checklist.sort_index, Checklist.id)
    ).all()
    return ItemDetail(
        row=row,
        plan=plan,
        parent=session.get(PlanItem, item.parent_id) if item.parent_id else None,
        checklists=list(checklists),
        tags=list(tags),
        progress_history=[(u, author(u.author_id)) for u in progress],
        metric_history=[(m, author(m.author_id)) for m in metric_history(session, item.id)],
    )
