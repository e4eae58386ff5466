"""The plan item export of seed 003: ``GET /exports/plans/{planId}``, one page at a time.

Every field of the seed's item schema is produced. A page is a handful of Core statements on the
session's connection, each limited to the session's scope by ``scope_criteria`` and bounded by
the page (see bench/bench_export.py and docs/performance.md):

- the page's item ids: in the default order an index range of the (plan, scope, sequence)
  index; in any other order the same statement also numbers the plan's items in tree order
  (``rowNumber``), so the plan is sorted once;
- ``totalCount``, when the page does not tell it (a short page ends the plan), is the plan's
  ``item_count``, which triggers keep (migration 0008): counting the plan's index on every
  page made each page a full pass over the plan;
- the page's items, reached from its ids as a table (one array parameter), one primary-key
  lookup each;
- what they point at (levels, assignees and assigners, parents and dependencies), for the
  page's distinct ids only;
- the nested lists (goals, members and admins, checklists with their entries, tags) for just
  those items, as plain rows.

The items are written to JSON with orjson as they are built, a hundred at a time, and the page
carries them as one ``orjson.Fragment``; dates and times are left to orjson, which writes them
as ``isoformat()`` does. The order is always completed by the item's primary key, so walking
every page returns each item exactly once. Between requests the application keeps only
:class:`PageAnchors`, valid for one order of one plan.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    TableValuedAlias,
    and_,
    bindparam,
    func,
    select,
    true,
    tuple_,
)
from sqlalchemy.orm import Session

from planfeed.accounts.models import Team, User
from planfeed.db.rows import plain_rows
from planfeed.db.scope import Scope, scope_criteria_parameters, scope_of, scope_parameters
from planfeed.db.values import values_parameter, values_table
from planfeed.plans.models import (
    ITEM_PROGRESS,
    ITEMS,
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

_items = ITEMS
_progress = ITEM_PROGRESS
_with_progress = _progress.c.item_id == _items.c.id  # one to one
_plans = Plan.__table__
_levels = PlanLevel.__table__
_users = User.__table__
_teams = Team.__table__
_goals = MetricGoal.__table__
_access = PlanItemAccess.__table__
_checklists = Checklist.__table__
_entries = ChecklistEntry.__table__
_item_tags = PlanItemTag.__table__
_tags = Tag.__table__
_assignee = _users.alias("assignee")
_assigner = _users.alias("assigner")
_last_user = _users.alias("last_user")
_parent = _items.alias("parent")
_dependency = _items.alias("dependency")


def _full_name(user: Any) -> ColumnElement[str]:
    return func.trim(user.c.forenames + " " + user.c.surname)


_depth = func.length(_items.c.sequence_id) - func.length(
    func.replace(_items.c.sequence_id, ".", "")
)

SORT_KEYS: dict[str, ColumnElement[Any]] = {
    "name": _items.c.name,
    "sequenceId": _items.c.sequence_key,
    "level": _depth,
    "status": _progress.c.status,
    "start": _items.c.start_date,
    "due": _items.c.due_date,
    "currentValue": _progress.c.current_value,
    "lastUpdated": _progress.c.updated_at,
    "assignedToFullName": _full_name(_assignee),
    "updates": _progress.c.updates_count,
    "alignsTo": _parent.c.name,
    "assignedByFullName": _full_name(_assigner),
    "assignedToEmailAddress": _assignee.c.email,
    "baseline": _items.c.baseline,
    "target": _items.c.target,
    "created": _items.c.created_at,
    "dependentOn": _dependency.c.name,
    "description": _items.c.description,
    "indentedName": _depth,
    "lastProgressUpdateUser": _full_name(_last_user),
    "updateFrequencyDescription": _items.c.update_frequency,
    "planName": _plans.c.name,
}
SORT_DIRECTIONS = ("asc", "desc")

# The table a sort key needs joined in the statement that picks a page's ids, and the column of
# the item that points at it.
_SORT_JOINS: dict[str, tuple[Any, ColumnElement[Any]]] = {
    "assignedToFullName": (_assignee, _items.c.assigned_to_id),
    "assignedToEmailAddress": (_assignee, _items.c.assigned_to_id),
    "alignsTo": (_parent, _items.c.parent_id),
    "assignedByFullName": (_assigner, _items.c.assigned_by_id),
    "dependentOn": (_dependency, _items.c.dependent_on_id),
    "lastProgressUpdateUser": (_last_user, _progress.c.last_progress_user_id),
    "planName": (_plans, _items.c.plan_id),
}

# Sort keys on the progress columns, or joined through one: the statement that picks a page's
# ids joins the item's progress row for them.
_PROGRESS_SORT_KEYS = frozenset(
    key
    for key, column in SORT_KEYS.items()
    if _progress.c.contains_column(column)
    or (key in _SORT_JOINS and _progress.c.contains_column(_SORT_JOINS[key][1]))
)


@dataclass(frozen=True, slots=True)
class ExportPage:
    """A page: ``items`` is the items' JSON array, already written (orjson inlines a Fragment
    as it is), ``total_count`` the plan's item count."""

    items: orjson.Fragment
    total_count: int


def _number(value: float | None) -> str:
    """Metric numbers as strings, as the seed shows them ("0", "12.5")."""
    if value is None:
        return "0"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _in_scope(table: Any, key: ColumnElement[Any], pointer: ColumnElement[Any]) -> Any:
    """The join condition of a pointer to ``table``, within the scope."""
    return and_(key == pointer, scope_criteria_parameters(table))


# Every statement of a page is built once (per sort key, dialect …) and run with parameters:
# the plan, the scope (``scope_parameters``), the page's ids (``ids``, see ``values_table``).
# Building a dozen statements a page cost milliseconds, and their hundreds of objects, alive
# while the page ran, were promoted by the garbage collector and brought on its full passes.


@functools.cache
def _page_ids(sort_key: str, descending: bool, from_anchor: bool = False) -> Select[Any]:
    """The ids of the plan's items in the requested order, ``take`` of them from ``skip``.

    In the default order this reads nothing but the (plan, scope, sequence) index; the second
    column is the sequence key (a row's number follows from its place in the page). Any other
    order sorts the whole plan anyway, so there the second column numbers every item in tree
    order (``row_number()`` over the index order) instead of a second pass over the plan.

    ``from_anchor`` (default order only): counting ``skip`` from the item given by the
    parameters ``anchor_key`` and ``anchor_id`` (a sequence key and id, see
    :class:`PageAnchors`) instead of from the first item."""
    sort_column = SORT_KEYS[sort_key]
    second = (
        _items.c.sequence_key
        if sort_key == "sequenceId"
        else func.row_number().over(order_by=(_items.c.sequence_key, _items.c.id))
    )
    query = select(_items.c.id, second).select_from(_items)
    if sort_key in _PROGRESS_SORT_KEYS:
        query = query.join(_progress, _with_progress)
    joined = _SORT_JOINS.get(sort_key)
    if joined is not None:
        target, pointer = joined
        query = query.outerjoin(target, _in_scope(target, target.c.id, pointer))
    if from_anchor:
        position = tuple_(_items.c.sequence_key, _items.c.id)
        anchor = tuple_(bindparam("anchor_key"), bindparam("anchor_id"))
        query = query.where(position <= anchor if descending else position >= anchor)
    return (
        query.where(_items.c.plan_id == bindparam("plan_id"), scope_criteria_parameters(_items))
        .order_by(
            sort_column.desc() if descending else sort_column.asc(),
            _items.c.id.desc() if descending else _items.c.id.asc(),
        )
        .offset(bindparam("skip"))
        .limit(bindparam("take"))
    )


ANCHOR_EVERY = 1000  # anchors: every thousandth item of the tree order


@functools.cache
def _anchor_rows() -> Select[Any]:
    """The sequence key and id of every ``ANCHOR_EVERY``-th item of the plan in tree order
    (positions 0, 1000, 2000 …): one pass over the plan's (plan, scope, sequence) index."""
    position = func.row_number().over(order_by=(_items.c.sequence_key, _items.c.id)) - 1
    ordered = (
        select(_items.c.sequence_key, _items.c.id, position.label("position"))
        .where(_items.c.plan_id == bindparam("plan_id"), scope_criteria_parameters(_items))
        .subquery("ordered")
    )
    return (
        select(ordered.c.sequence_key, ordered.c.id)
        .where(ordered.c.position % ANCHOR_EVERY == 0)
        .order_by(ordered.c.position)
    )


class PageAnchors:
    """Where every ``ANCHOR_EVERY``-th item of a plan's tree order stands, kept between
    requests for a few plans (least recently used out).

    A page in the default order otherwise walks the plan's index from the first item to
    ``skip`` (about 5 ms at the middle of a 100,000-item plan on PostgreSQL); from the anchor
    at or before its first row it walks fewer than ``ANCHOR_EVERY``. Anchors are kept under the
    plan's ``item_order_token``, which triggers renew whenever an item comes, goes or is
    renumbered, so anchors of an older order are never used. One per application (databases
    never share one); thread-safe, since pages are made in a thread pool."""

    def __init__(self, plans: int = 64) -> None:
        self._plans = plans
        self._anchors: OrderedDict[tuple[int, str], list[tuple[Any, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, connection: Connection, plan: Plan, in_plan: dict[str, Any]) -> list[Any]:
        """The plan's anchors under its current token, read from the database on a miss."""
        key = (plan.id, plan.item_order_token)
        with self._lock:
            anchors = self._anchors.get(key)
            if anchors is not None:
                self._anchors.move_to_end(key)
                return anchors
        anchors = plain_rows(connection, _anchor_rows(), in_plan)
        with self._lock:
            self._anchors[key] = anchors
            while len(self._anchors) > self._plans:
                self._anchors.popitem(last=False)
        return anchors


def _from_anchor(
    anchors: list[Any], skip: int, total: int, descending: bool
) -> tuple[Any, int] | None:
    """The anchor to count a page from and how many rows to skip after it, or ``None`` when
    the plain count from the first row is as short. Positions are in ascending tree order; a
    descending page's first row is at ``total - 1 - skip``, reached from the anchor above."""
    first = total - 1 - skip if descending else skip
    if first < 0:
        return None
    index = -(-first // ANCHOR_EVERY) if descending else first // ANCHOR_EVERY
    if index >= len(anchors):
        return None
    return anchors[index], abs(first - index * ANCHOR_EVERY)


_ITEM_COLUMNS = (
    "id",
    "public_id",
    "sequence_id",
    "name",
    "description",
    "status",
    "start_date",
    "due_date",
    "created_at",
    "updated_at",
    "has_metric",
    "units",
    "detail",
    "baseline",
    "target",
    "current_value",
    "assigned_to_id",
    "assigned_by_id",
    "update_frequency",
    "grace_days",
    "updates_count",
    "last_update_on",
    "last_comment_id",
    "last_comment",
    "last_update_comment_id",
    "last_update_comment",
    "files_count",
    "level_id",
    "parent_id",
    "dependent_on_id",
)
_ASSIGNED_TO = _ITEM_COLUMNS.index("assigned_to_id")
_ASSIGNED_BY = _ITEM_COLUMNS.index("assigned_by_id")
_LEVEL = _ITEM_COLUMNS.index("level_id")
_PARENT = _ITEM_COLUMNS.index("parent_id")
_DEPENDENCY = _ITEM_COLUMNS.index("dependent_on_id")
_POINTED_COLUMNS = ("id", "public_id", "name")


@functools.cache
def _items_by_id(columns: tuple[str, ...], dialect: str) -> Select[Any]:
    """``columns`` of the items whose ids the ``ids`` parameter lists (in scope), one
    primary-key lookup each.

    The items are reached from the ids as a table (``unnest`` / ``json_each``). PostgreSQL's
    planner would rather read the whole table for 1,500 ids of a 100,000-item table: an
    ``id = ANY(…)`` filter or a plain join ends as a scan, or a merge join, over all of it,
    several times slower with the table cached. So there each item is a LATERAL subquery that
    cannot be merged into the join (``OFFSET 0``): a lookup per id in every plan, custom or
    generic (a prepared statement's plan, made for an array of unknown length)."""
    ids = values_table("ids", dialect)
    selected = [_items.c[name] if name in _items.c else _progress.c[name] for name in columns]
    with_progress = any(_progress.c.contains_column(column) for column in selected)
    if dialect != "postgresql":
        joined = ids.join(_items, _in_scope(_items, _items.c.id, ids.c.value))
        if with_progress:
            joined = joined.join(_progress, _with_progress)
        return select(*selected).select_from(joined)
    source = _items.join(_progress, _with_progress) if with_progress else _items
    item = (
        select(*selected)
        .select_from(source)
        .where(_items.c.id == ids.c.value, scope_criteria_parameters(_items))
        .offset(0)
        .lateral("item")
    )
    return select(item).select_from(ids.join(item, true()))


@functools.cache
def _names(table_name: str, dialect: str) -> Select[Any]:
    """What the page's items point at (levels, users), for the ids the ``ids`` parameter
    lists: one small statement instead of joining every item to it, since the pointers of a
    page take few distinct values."""
    table, columns = {
        "levels": (_levels, (_levels.c.name, _levels.c.public_id)),
        "users": (_users, (_full_name(_users),)),
    }[table_name]
    ids = values_table("ids", dialect)
    return (
        select(table.c.id, *columns)
        .select_from(ids)
        .join(table, _in_scope(table, table.c.id, ids.c.value))
    )


@dataclass(frozen=True, slots=True)
class _Names:
    """What a page's items point at, by id: levels (name, public id), users (full name) and
    items (public id, name)."""

    levels: dict[int, tuple[Any, ...]]
    users: dict[int, tuple[Any, ...]]
    items: dict[int, tuple[Any, ...]]


def export_page(
    session: Session,
    plan: Plan,
    *,
    skip: int = 0,
    take: int = DEFAULT_TAKE,
    sort_key: str = "sequenceId",
    sort_direction: str = "asc",
    today: dt.date | None = None,
    anchors: PageAnchors | None = None,
) -> ExportPage:
    """One page of the export; the caller has validated the parameters and the access, and
    bound the session to the plan's scope. ``anchors``: the application's, to start pages deep
    into a large plan near their place (default order)."""
    scope = scope_of(session)
    if scope is None:
        raise RuntimeError("export_page needs a session bound to a scope")
    today = today or dt.date.today()
    connection = session.connection()
    dialect = connection.dialect.name
    descending = sort_direction == "desc"
    in_plan = {"plan_id": plan.id, **scope_parameters(scope)}
    start = None
    if (
        anchors is not None
        and sort_key == "sequenceId"
        and skip >= ANCHOR_EVERY
        and plan.item_count >= 2 * ANCHOR_EVERY
    ):
        start = _from_anchor(
            anchors.of(connection, plan, in_plan), skip, plan.item_count, descending
        )
    if start is None:
        page = plain_rows(
            connection, _page_ids(sort_key, descending), {**in_plan, "skip": skip, "take": take}
        )
    else:
        (anchor_key, anchor_id), offset = start
        page = plain_rows(
            connection,
            _page_ids(sort_key, descending, from_anchor=True),
            {
                **in_plan,
                "anchor_key": anchor_key,
                "anchor_id": anchor_id,
                "skip": offset,
                "take": take,
            },
        )
    if 0 < len(page) < take or (skip == 0 and not page):
        total = skip + len(page)  # the page reaches the end of the plan
    else:
        # Kept by the database (see Plan.item_count); an item added since the plan was read
        # cannot make the plan look shorter than the page just read.
        total = max(plan.item_count, skip + len(page)) if page else plan.item_count
    if not page:
        return ExportPage(items=orjson.Fragment(b"[]"), total_count=total)
    item_ids = [row[0] for row in page]
    if sort_key != "sequenceId":
        numbers = [row[1] for row in page]
    elif descending:
        numbers = list(range(total - skip, total - skip - len(page), -1))
    else:
        numbers = list(range(skip + 1, skip + len(page) + 1))
    del page
    on_page = {**scope_parameters(scope), "ids": values_parameter(item_ids, dialect)}
    rows = plain_rows(connection, _items_by_id(_ITEM_COLUMNS, dialect), on_page)
    names = _names_for(connection, rows, scope, dialect)
    nested = _nested(connection, on_page, dialect)
    return ExportPage(
        items=_items_json(
            item_ids, numbers, {row[0]: row for row in rows}, plan, names, nested, today
        ),
        total_count=total,
    )


def _names_for(
    connection: Connection, rows: list[tuple[Any, ...]], scope: Scope, dialect: str
) -> _Names:
    """What the page's items point at: their levels, assignees and assigners, parents and
    dependencies, for just the distinct ids the page holds."""

    def lookup(statement: Select[Any], ids: set[int]) -> dict[int, tuple[Any, ...]]:
        if not ids:
            return {}
        parameters = {**scope_parameters(scope), "ids": values_parameter(sorted(ids), dialect)}
        return {row[0]: row[1:] for row in plain_rows(connection, statement, parameters)}

    return _Names(
        levels=lookup(_names("levels", dialect), {row[_LEVEL] for row in rows} - {None}),
        users=lookup(
            _names("users", dialect),
            ({row[_ASSIGNED_TO] for row in rows} | {row[_ASSIGNED_BY] for row in rows}) - {None},
        ),
        items=lookup(
            _items_by_id(_POINTED_COLUMNS, dialect),
            ({row[_PARENT] for row in rows} | {row[_DEPENDENCY] for row in rows}) - {None},
        ),
    )


@dataclass
class _Nested:
    goals: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    members: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    admins: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    checklists: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    tags: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))


def _for_page(table: Any, item_id: ColumnElement[int], ids: TableValuedAlias) -> Any:
    """``table``'s rows (in scope) for the page's items, joined from the ids as a table.

    ``item_id = ANY(array)`` would do on SQLite, but PostgreSQL estimates it element by element
    when planning: over a millisecond a statement for 1,500 ids, more than running it."""
    return ids.join(table, _in_scope(table, item_id, ids.c.value))


@functools.cache
def _nested_statements(dialect: str) -> tuple[Select[Any], Select[Any], Select[Any], Select[Any]]:
    """The statements of the nested lists: goals, access (members and admins), checklists with
    their entries (an outer join), tags; each joined from the ``ids`` parameter."""
    ids = values_table("ids", dialect)
    goals = (
        select(
            _goals.c.item_id,
            _goals.c.public_id,
            _goals.c.name,
            _goals.c.color,
            _goals.c.bucket_value,
            _goals.c.sort_order,
        )
        .select_from(_for_page(_goals, _goals.c.item_id, ids))
        .order_by(_goals.c.sort_order, _goals.c.id)
    )
    access = (
        select(
            _access.c.item_id,
            _access.c.is_admin,
            _access.c.user_id,
            _full_name(_users),
            _access.c.team_id,
            _teams.c.name,
        )
        .select_from(
            _for_page(_access, _access.c.item_id, ids)
            .outerjoin(_users, _in_scope(_users, _users.c.id, _access.c.user_id))
            .outerjoin(_teams, _in_scope(_teams, _teams.c.id, _access.c.team_id))
        )
        .order_by(_access.c.id)
    )
    checklists = (
        select(
            _checklists.c.id,
            _checklists.c.item_id,
            _checklists.c.public_id,
            _checklists.c.name,
            _checklists.c.sort_index,
            _entries.c.id,
            _entries.c.public_id,
            _entries.c.name,
            _entries.c.sort_index,
            _entries.c.done_on,
        )
        .select_from(
            _for_page(_checklists, _checklists.c.item_id, ids).outerjoin(
                _entries, _in_scope(_entries, _entries.c.checklist_id, _checklists.c.id)
            )
        )
        .order_by(_checklists.c.sort_index, _checklists.c.id, _entries.c.sort_index, _entries.c.id)
    )
    tags = (
        select(_item_tags.c.item_id, _tags.c.public_id, _tags.c.organisation_id, _tags.c.name)
        .select_from(
            _for_page(_item_tags, _item_tags.c.item_id, ids).join(
                _tags, _in_scope(_tags, _tags.c.id, _item_tags.c.tag_id)
            )
        )
        .order_by(_tags.c.name)
    )
    return goals, access, checklists, tags


def _nested(connection: Connection, on_page: dict[str, Any], dialect: str) -> _Nested:
    """The page's nested lists, keyed by item id, from four plain-row statements."""
    nested = _Nested()
    goals, access, checklists, tags = _nested_statements(dialect)
    for item_id, public_id, name, color, bucket_value, sort_order in plain_rows(
        connection, goals, on_page
    ):
        nested.goals[item_id].append(
            {
                "goalId": public_id,
                "goalName": name,
                "goalColor": color,
                "metricBucketValue": bucket_value,
                "sortOrder": sort_order,
            }
        )
    for item_id, is_admin, user_id, user_name, team_id, team_name in plain_rows(
        connection, access, on_page
    ):
        entry = (
            {"id": str(user_id), "name": user_name, "type": "User"}
            if user_id is not None
            else {"id": str(team_id), "name": team_name, "type": "Team"}
        )
        (nested.admins if is_admin else nested.members)[item_id].append(entry)
    current: dict[str, Any] = {}
    current_id = None
    for checklist_id, item_id, public_id, name, sort_index, entry_id, *entry in plain_rows(
        connection, checklists, on_page
    ):
        if checklist_id != current_id:
            current_id = checklist_id
            current = {"id": public_id, "name": name, "sortIndex": sort_index, "items": []}
            nested.checklists[item_id].append(current)
        if entry_id is not None:
            entry_public_id, entry_name, entry_sort_index, done_on = entry
            current["items"].append(
                {
                    "id": entry_public_id,
                    "name": entry_name,
                    "sortIndex": entry_sort_index,
                    "doneOn": _iso(done_on),
                }
            )
    for item_id, public_id, organisation_id, name in plain_rows(connection, tags, on_page):
        nested.tags[item_id].append(
            {"id": public_id, "organizationId": str(organisation_id), "name": name}
        )
    return nested


_CHUNK = 100  # items written by one orjson call (see _items_json)
_STATUS_JSON = {status.value: (status.value, status.label) for status in Status}
_NO_LEVEL = ("", "")
_NO_ITEM = (None, None)
_NO_USER = (None,)


def _items_json(
    item_ids: list[int],
    numbers: list[int],
    rows: dict[int, Any],
    plan: Plan,
    names: _Names,
    nested: _Nested,
    today: dt.date,
) -> orjson.Fragment:
    """The page's items in page order, as one JSON array written a hundred items at a time.

    A row of :func:`_items_by_id` is unpacked by position (1,500 items a page: attribute access
    by name would be a third of the time). Dates and times are left to orjson, which writes
    them exactly as ``isoformat()`` does, in C. Writing as we go lets each item's dict die
    young: 1,500 dicts and their lists alive until the end of the page were promoted by the
    garbage collector, whose full passes over the whole process then cost a large share of
    the page; writing each item alone costs more in orjson calls than it saves."""
    plan_public_id, plan_name = plan.public_id, plan.name
    levels, users, items_named = names.levels, names.users, names.items
    goals_of, members_of, admins_of = nested.goals, nested.members, nested.admins
    checklists_of, tags_of = nested.checklists, nested.tags
    written: list[bytes] = []
    chunk: list[dict[str, Any]] = []
    for item_id, row_number in zip(item_ids, numbers, strict=True):
        (
            _,
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
            level_id,
            parent_id,
            dependent_on_id,
        ) = rows[item_id]
        level_name, level_public_id = levels.get(level_id, _NO_LEVEL)
        parent_public_id, parent_name = items_named.get(parent_id, _NO_ITEM)
        dependency_public_id, dependency_name = items_named.get(dependent_on_id, _NO_ITEM)
        (assignee_name,) = users.get(assigned_to_id, _NO_USER)
        (assigner_name,) = users.get(assigned_by_id, _NO_USER)
        late, pending = update_counts(
            update_frequency,
            last_update_on or start_date or created_at.date(),
            grace_days,
            status_code,
            today,
        )
        status, status_name = _STATUS_JSON[status_code]
        goals = goals_of.get(item_id, ())
        item = {
            "id": public_id,
            "sourceId": public_id,
            "rowNumber": row_number,
            "sequenceId": sequence_id,
            "planId": plan_public_id,
            "planName": plan_name,
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
            "start": start_date,
            "due": due_date,
            "created": created_at,
            "hasMetric": has_metric,
            "hasAdvancedMetric": bool(goals),
            "units": units,
            "detail": detail,
            "baseline": "0" if baseline is None else _number(baseline),
            "target": "0" if target is None else _number(target),
            "currentValue": "0" if current_value is None else _number(current_value),
            "advancedMetricGoals": goals,
            "lastUpdated": updated_at,
            "assignedToId": str(assigned_to_id) if assigned_to_id else None,
            "assignedToFullName": assignee_name,
            "assignedById": str(assigned_by_id) if assigned_by_id else None,
            "assignedByFullName": assigner_name,
            "members": members_of.get(item_id, ()),
            "admins": admins_of.get(item_id, ()),
            "updateFrequency": update_frequency,
            "updateFrequencyDescription": update_frequency,
            "isPastDue": is_past_due(due_date, status_code, today),
            "lateUpdates": late,
            "pendingUpdates": pending,
            "updates": updates_count,
            "lastCommentId": str(last_comment_id) if last_comment_id else None,
            "lastComment": last_comment,
            "lastUpdateCommentId": (
                str(last_update_comment_id) if last_update_comment_id else None
            ),
            "lastUpdateComment": last_update_comment,
            "files": files_count,
            "checklists": checklists_of.get(item_id, ()),
            "tags": tags_of.get(item_id, ()),
            "isOrphan": False,
        }
        chunk.append(item)
        if len(chunk) == _CHUNK:
            written.append(orjson.dumps(chunk)[1:-1])
            chunk.clear()
    if chunk:
        written.append(orjson.dumps(chunk)[1:-1])
    return orjson.Fragment(b"[" + b",".join(written) + b"]")


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
