"""Validating a claimed job's file against the database, and applying it in one transaction.

Hot path: items are looked up in chunks through the scoped ORM, history rows are inserted with
one executemany, and each touched item is updated once. An update dated before the item's
latest keeps its place in the history but changes neither the status nor the current value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, case, insert, select, update
from sqlalchemy.orm import Session

from planfeed.auth.permissions import editable_plan_ids
from planfeed.auth.principal import Principal
from planfeed.db.base import utcnow
from planfeed.db.scope import Scope, scope_criteria
from planfeed.ingest import (
    BatchKind,
    ItemFacts,
    ParsedRow,
    ParseResult,
    RowError,
    check_against_items,
)
from planfeed.plans.models import MetricUpdate, PlanItem, ProgressUpdate, UpdateSource

LOOKUP_CHUNK = 900


@dataclass(frozen=True, slots=True)
class _Item:
    id: int
    has_metric: bool
    last_update_on: Any
    last_metric_on: Any
    writable: bool


def lookup_items(
    session: Session, principal: Principal, external_ids: Iterable[str]
) -> dict[str, _Item]:
    """The caller's items by external ID (the session's scope limits the search)."""
    editable = editable_plan_ids(principal)
    editable_ids = set(session.scalars(editable)) if editable is not None else None
    found: dict[str, _Item] = {}
    ids = list(external_ids)
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        rows: Iterable[Row[Any]] = session.execute(
            select(
                PlanItem.external_id,
                PlanItem.id,
                PlanItem.plan_id,
                PlanItem.has_metric,
                PlanItem.last_update_on,
                PlanItem.last_metric_on,
            ).where(PlanItem.external_id.in_(chunk))
        )
        for external_id, item_id, plan_id, has_metric, last_update, last_metric in rows:
            found[external_id] = _Item(
                item_id,
                has_metric,
                last_update,
                last_metric,
                editable_ids is None or plan_id in editable_ids,
            )
    return found


def validate(session: Session, principal: Principal, result: ParseResult) -> dict[str, _Item]:
    """Run the database checks on a parsed file; errors are appended to ``result``."""
    items = lookup_items(session, principal, {row.external_id for row in result.rows})
    check_against_items(
        result,
        {key: ItemFacts(has_metric=i.has_metric, writable=i.writable) for key, i in items.items()},
    )
    return items


def apply_single(
    session: Session, principal: Principal, result: ParseResult, source: UpdateSource
) -> list[RowError]:
    """Check a one-off update (a feeds POST, a web form) against the items and apply it.

    The same lookup, permission and metric checks as a batch file, then the same write; returns
    the errors instead (nothing written) when there are any.
    """
    if result.errors:
        return list(result.errors)
    items = validate(session, principal, result)
    if result.errors:
        return list(result.errors)
    apply(session, principal, result, items, None, source)
    return []


def apply(
    session: Session,
    principal: Principal,
    result: ParseResult,
    items: dict[str, _Item],
    job_id: str | None,
    source: UpdateSource = UpdateSource.JOB,
) -> int:
    """Write every row of a valid file; returns the number of rows applied."""
    scope = principal.scope
    now = utcnow()
    common = {
        "organisation_id": scope.organisation_id,
        "environment": scope.environment.value,
        "author_id": principal.user_id,
        "source": source.value,
        "job_id": job_id,
        "created_at": now,
    }
    by_item: dict[int, list[ParsedRow]] = defaultdict(list)
    for row in result.rows:
        by_item[items[row.external_id].id].append(row)
    if result.kind is BatchKind.PROGRESS:
        _apply_progress(session, scope, result.rows, items, by_item, common, now)
    else:
        _apply_metrics(session, scope, result.rows, items, by_item, common, now)
    return len(result.rows)


def _latest(rows: list[ParsedRow]) -> ParsedRow:
    """The row that wins for the item: latest As Of Date, the later row on a tie."""
    return max(enumerate(rows), key=lambda pair: (pair[1].as_of, pair[0]))[1]


def _apply_progress(
    session: Session,
    scope: Scope,
    rows: list[ParsedRow],
    items: dict[str, _Item],
    by_item: dict[int, list[ParsedRow]],
    common: dict[str, Any],
    now: Any,
) -> None:
    history = [
        {
            **common,
            "item_id": items[row.external_id].id,
            "status": row.status.value if row.status is not None else 0,
            "value": row.metric_value,
            "as_of": row.as_of,
            "comment": row.comment,
        }
        for row in rows
    ]
    session.execute(insert(ProgressUpdate.__table__), history)
    metric_history = [
        {
            **_without(common, "comment"),
            "item_id": h["item_id"],
            "value": h["value"],
            "as_of": h["as_of"],
        }
        for h in history
        if h["value"] is not None
    ]
    if metric_history:
        session.execute(insert(MetricUpdate.__table__), metric_history)
    items_by_id = {item.id: item for item in items.values()}
    current: list[dict[str, Any]] = []
    counts_only: list[dict[str, Any]] = []
    for item_id, item_rows in by_item.items():
        item = items_by_id[item_id]
        latest = _latest(item_rows)
        if item.last_update_on is None or latest.as_of >= item.last_update_on:
            current.append(
                {
                    "b_id": item_id,
                    "b_count": len(item_rows),
                    "b_status": latest.status.value if latest.status is not None else 0,
                    "b_value": latest.metric_value if item.has_metric else None,
                    "b_has_value": item.has_metric and latest.metric_value is not None,
                    "b_as_of": latest.as_of,
                    "b_comment": latest.comment,
                    "b_user": common["author_id"],
                    "b_now": now,
                }
            )
        else:
            counts_only.append({"b_id": item_id, "b_count": len(item_rows), "b_now": now})
    table = PlanItem.__table__
    in_scope = scope_criteria(table, scope)
    if current:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), in_scope)
            .values(
                status=bindparam("b_status"),
                current_value=_keep_unless(
                    bindparam("b_has_value"), bindparam("b_value"), table.c.current_value
                ),
                last_update_on=bindparam("b_as_of"),
                last_update_comment=bindparam("b_comment"),
                last_progress_user_id=bindparam("b_user"),
                updates_count=table.c.updates_count + bindparam("b_count"),
                updated_at=bindparam("b_now"),
            ),
            current,
        )
    if counts_only:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), in_scope)
            .values(
                updates_count=table.c.updates_count + bindparam("b_count"),
                updated_at=bindparam("b_now"),
            ),
            counts_only,
        )


def _apply_metrics(
    session: Session,
    scope: Scope,
    rows: list[ParsedRow],
    items: dict[str, _Item],
    by_item: dict[int, list[ParsedRow]],
    common: dict[str, Any],
    now: Any,
) -> None:
    history = [
        {
            **common,
            "item_id": items[row.external_id].id,
            "value": row.metric_value,
            "as_of": row.as_of,
        }
        for row in rows
        if row.metric_value is not None
    ]
    if history:
        session.execute(insert(MetricUpdate.__table__), history)
    items_by_id = {item.id: item for item in items.values()}
    current = []
    for item_id, item_rows in by_item.items():
        item = items_by_id[item_id]
        valued = [row for row in item_rows if row.metric_value is not None]
        if not valued:
            continue
        latest = _latest(valued)
        if item.last_metric_on is None or latest.as_of >= item.last_metric_on:
            current.append(
                {
                    "b_id": item_id,
                    "b_value": latest.metric_value,
                    "b_as_of": latest.as_of,
                    "b_now": now,
                }
            )
    if current:
        table = PlanItem.__table__
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), scope_criteria(table, scope))
            .values(
                current_value=bindparam("b_value"),
                last_metric_on=bindparam("b_as_of"),
                updated_at=bindparam("b_now"),
            ),
            current,
        )


def _keep_unless(flag: Any, new: Any, old: Any) -> Any:
    """``new`` when ``flag`` holds, else the column's current value (one UPDATE for all items)."""
    return case((flag, new), else_=old)


def _without(values: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != key}
