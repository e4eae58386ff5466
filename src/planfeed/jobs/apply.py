"""Validating a claimed job's file against the database, and applying it in one transaction.

Hot path, sized for 100,000-row files (see bench/bench_batch.py and docs/performance.md):

- items are looked up with one Core statement for the whole file (a scan of the scope's items
  for a file naming many of them, else a JSON array parameter on SQLite, an array on
  PostgreSQL), limited to the caller's scope by ``scope_criteria``;
- history rows are bulk-loaded with the driver (COPY on PostgreSQL, ``executemany`` of ready
  tuples on SQLite), skipping SQLAlchemy's per-row parameter processing;
- everything after that is set-based SQL over the job's own history rows (found by ``job_id``):
  the metric history of a progress file is one INSERT … SELECT, and every touched item is
  updated by one UPDATE … FROM a per-item summary (latest row by As Of Date, then file order).

An update dated before the item's latest keeps its place in the history but changes neither
the status nor the current value. The caller owns the transaction (one per job).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    and_,
    case,
    column,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy import table as named_table
from sqlalchemy.orm import Session

from planfeed.auth.permissions import editable_plan_ids
from planfeed.auth.principal import Principal
from planfeed.db.base import utcnow
from planfeed.db.scope import Scope, scope_criteria
from planfeed.db.values import one_of
from planfeed.ingest import BatchKind, ItemFacts, ParseResult, RowError, check_against_items
from planfeed.plans.models import MetricUpdate, PlanItem, ProgressUpdate, UpdateSource

LOOKUP_CHUNK = 900  # dialects other than SQLite and PostgreSQL: IN lists of this size


@dataclass(frozen=True, slots=True)
class FoundItems:
    """The file's items by External ID: their ids, and what validation needs to know.

    Facts are shared instances (there are four combinations), so a 100,000-row file costs two
    dict entries per item and no object of its own."""

    ids: dict[str, int]
    facts: dict[str, ItemFacts]


_FACTS = {
    (has_metric, writable): ItemFacts(has_metric=has_metric, writable=writable)
    for has_metric in (False, True)
    for writable in (False, True)
}

# A file naming at least this share of the scope's items is matched against a scan of the
# scope's items (one index range) instead of one index probe per External ID.
SCAN_SHARE = 0.25


def lookup_items(session: Session, principal: Principal, external_ids: Iterable[str]) -> FoundItems:
    """The caller's items by external ID, with Core statements limited to the caller's scope:
    a scan of the scope's items when the file names a large share of them, else one statement
    probing the (scope, External ID) index for every ID."""
    editable = editable_plan_ids(principal)
    editable_ids = set(session.scalars(editable)) if editable is not None else None
    ids = list(external_ids)
    found = FoundItems({}, {})
    if not ids:
        return found
    connection = session.connection()
    table = PlanItem.__table__
    columns = select(table.c.external_id, table.c.id, table.c.plan_id, table.c.has_metric).where(
        scope_criteria(table, principal.scope)
    )
    dialect = connection.dialect.name
    in_scope = connection.execute(
        select(func.count()).select_from(table).where(scope_criteria(table, principal.scope))
    ).scalar_one()
    if len(ids) >= SCAN_SHARE * in_scope:
        wanted = set(ids)
        batches = [[row for row in _plain_rows(connection, columns) if row[0] in wanted]]
    elif dialect in ("postgresql", "sqlite"):
        batches = [
            _plain_rows(connection, columns.where(one_of(table.c.external_id, ids, dialect)))
        ]
    else:
        batches = [
            connection.execute(
                columns.where(table.c.external_id.in_(ids[start : start + LOOKUP_CHUNK]))
            ).all()
            for start in range(0, len(ids), LOOKUP_CHUNK)
        ]
    found_ids, facts = found.ids, found.facts
    for rows in batches:
        for external_id, item_id, plan_id, has_metric in rows:
            found_ids[external_id] = item_id
            facts[external_id] = _FACTS[
                bool(has_metric), editable_ids is None or plan_id in editable_ids
            ]
    return found


def _plain_rows(connection: Connection, statement: Any) -> list[tuple[Any, ...]]:
    """The driver's own row tuples for a Core select whose columns need no result processing
    (strings and integers): building 100,000 Row objects would cost more than the query."""
    compiled = statement.compile(dialect=connection.dialect)
    values = compiled.construct_params()
    parameters: Any = (
        values
        if compiled.positiontup is None
        else tuple(values[name] for name in compiled.positiontup)
    )
    cursor = connection.connection.cursor()
    try:
        cursor.execute(compiled.string, parameters)
        return cursor.fetchall()
    finally:
        cursor.close()


def validate(session: Session, principal: Principal, result: ParseResult) -> FoundItems:
    """Run the database checks on a parsed file; errors are appended to ``result``."""
    items = lookup_items(session, principal, {row.external_id for row in result.rows})
    check_against_items(result, items.facts)
    return items


def apply(
    session: Session,
    principal: Principal,
    result: ParseResult,
    items: FoundItems,
    job_id: str,
    source: UpdateSource = UpdateSource.JOB,
) -> int:
    """Write every row of a valid file; returns the number of rows applied.

    ``job_id`` marks the history rows, and the set-based steps find this job's rows by it.
    """
    scope = principal.scope
    connection = session.connection()
    item_ids = items.ids
    now = utcnow()
    common = {
        "organisation_id": scope.organisation_id,
        "environment": scope.environment.value,
        "author_id": principal.user_id,
        "source": source.value,
        "job_id": job_id,
        "created_at": now,
    }
    if result.kind is BatchKind.PROGRESS:
        table = ProgressUpdate.__table__
        as_of = _driver_values(connection, table.c.as_of)
        _bulk_insert(
            connection,
            table,
            common,
            ("item_id", "status", "value", "as_of", "comment"),
            [
                (
                    item_ids[row.external_id],
                    row.status.value if row.status is not None else 0,
                    row.metric_value,
                    as_of(row.as_of),
                    row.comment,
                )
                for row in result.rows
            ],
        )
        _copy_metric_history(connection, scope, job_id)
        _update_items_from_progress(connection, scope, job_id, principal.user_id, now)
    else:
        table = MetricUpdate.__table__
        as_of = _driver_values(connection, table.c.as_of)
        _bulk_insert(
            connection,
            table,
            common,
            ("item_id", "value", "as_of"),
            [
                (item_ids[row.external_id], row.metric_value, as_of(row.as_of))
                for row in result.rows
                if row.metric_value is not None
            ],
        )
        _update_items_from_metrics(connection, scope, job_id, now)
    return len(result.rows)


def apply_single_update(
    session: Session, principal: Principal, result: ParseResult, source: UpdateSource
) -> tuple[list[RowError], int | None]:
    """A one-off progress update (a feeds POST, a web form), as a one-row file.

    It gets the batch's lookup, edit-right and metric checks and the batch's set-based apply,
    so every way in moves an item identically. Returns the errors (nothing written) or the new
    history row's ID.
    """
    if result.errors:
        return list(result.errors), None
    items = validate(session, principal, result)
    if result.errors:
        return list(result.errors), None
    marker = f"one-{uuid.uuid4().hex}"  # finds this update's rows; cleared below: no job made it
    apply(session, principal, result, items, marker, source)
    progress = ProgressUpdate.__table__
    new_id = session.scalar(
        select(progress.c.id).where(
            progress.c.job_id == marker, scope_criteria(progress, principal.scope)
        )
    )
    for history in (progress, MetricUpdate.__table__):
        session.execute(
            update(history)
            .where(history.c.job_id == marker, scope_criteria(history, principal.scope))
            .values(job_id=None)
        )
    return [], new_id


def _driver_values(connection: Connection, column: Any) -> Callable[[Any], Any]:
    """``value`` as the driver takes it for ``column``: the column type's own bind processor
    (so dates are stored exactly as SQLAlchemy stores them), cached per distinct value, since a
    file has only a few distinct dates."""
    process = column.type._cached_bind_processor(connection.dialect)
    if process is None:
        return lambda value: value
    cache: dict[Any, Any] = {None: None}

    def convert(value: Any) -> Any:
        try:
            return cache[value]
        except KeyError:
            cache[value] = converted = process(value)
            return converted

    return convert


def _bulk_insert(
    connection: Connection,
    table: Table,
    constants: dict[str, Any],
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> None:
    """Insert ``constants`` + each of ``rows`` (driver-ready values, see :func:`_driver_values`)
    with the driver itself: COPY on PostgreSQL, one executemany elsewhere."""
    if not rows:
        return
    dialect = connection.dialect
    names = (*constants, *columns)
    fixed = tuple(_driver_values(connection, table.c[name])(v) for name, v in constants.items())
    if dialect.name == "postgresql":
        quote = dialect.identifier_preparer.quote
        statement = f"COPY {quote(table.name)} ({', '.join(quote(n) for n in names)}) FROM STDIN"
        driver = connection.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(fixed + row)
        return
    compiled = insert(table).compile(dialect=dialect, column_keys=list(names))
    if compiled.positiontup is None:  # a named paramstyle
        keyed = [dict(zip(names, fixed + row, strict=True)) for row in rows]
        connection.exec_driver_sql(compiled.string, keyed)  # type: ignore[arg-type]
        return
    order = [names.index(name) for name in compiled.positiontup]
    if order == list(range(len(names))):
        connection.exec_driver_sql(compiled.string, [fixed + row for row in rows])  # type: ignore[arg-type]
    else:
        connection.exec_driver_sql(
            compiled.string,
            [tuple((fixed + row)[i] for i in order) for row in rows],  # type: ignore[arg-type]
        )


def _copy_metric_history(connection: Connection, scope: Scope, job_id: str) -> None:
    """Every progress row with a value is also a metric history row (in file order)."""
    progress = ProgressUpdate.__table__
    metric = MetricUpdate.__table__
    names = (
        "organisation_id",
        "environment",
        "item_id",
        "value",
        "as_of",
        "author_id",
        "source",
        "job_id",
        "created_at",
    )
    connection.execute(
        insert(metric).from_select(
            names,
            select(*(progress.c[name] for name in names))
            .where(
                progress.c.job_id == job_id,
                progress.c.value.is_not(None),
                scope_criteria(progress, scope),
            )
            .order_by(progress.c.id),
        )
    )


def _latest_per_item(
    connection: Connection, history: Table, scope: Scope, job_id: str, *columns: str
) -> Any:
    """Per item touched by the job: its number of rows and the values of its winning row
    (latest As Of Date; on a tie the later row of the file, i.e. the higher id).

    On PostgreSQL the summary is materialised into a temporary table and analysed first: the
    job's history rows are not yet in the planner's statistics, and with a guessed row count
    the UPDATE … FROM can be planned as a nested loop that re-runs the summary per item."""
    ranked = (
        select(
            history.c.item_id,
            *(history.c[name] for name in columns),
            func.row_number()
            .over(
                partition_by=history.c.item_id,
                order_by=(history.c.as_of.desc(), history.c.id.desc()),
            )
            .label("place"),
            func.count().over(partition_by=history.c.item_id).label("rows"),
        )
        .where(history.c.job_id == job_id, scope_criteria(history, scope))
        .subquery("ranked")
    )
    summary = select(ranked.c.item_id, ranked.c.rows, *(ranked.c[name] for name in columns)).where(
        ranked.c.place == 1
    )
    if connection.dialect.name != "postgresql":
        return summary.subquery("latest")
    name = "planfeed_job_latest"
    compiled = summary.compile(dialect=connection.dialect)
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS {compiled.string}",
        compiled.params,  # type: ignore[arg-type]
    )
    connection.exec_driver_sql(f"ANALYZE {name}")
    return named_table(name, *(column(c.key, c.type) for c in summary.selected_columns))


def _update_items_from_progress(
    connection: Connection, scope: Scope, job_id: str, user_id: int | None, now: Any
) -> None:
    items = PlanItem.__table__
    latest = _latest_per_item(
        connection, ProgressUpdate.__table__, scope, job_id, "status", "value", "as_of", "comment"
    )
    newer = or_(items.c.last_update_on.is_(None), latest.c.as_of >= items.c.last_update_on)

    def if_newer(new: Any, old: Any) -> Any:
        return case((newer, new), else_=old)

    connection.execute(
        update(items)
        .where(items.c.id == latest.c.item_id, scope_criteria(items, scope))
        .values(
            status=if_newer(latest.c.status, items.c.status),
            current_value=case(
                (
                    and_(newer, items.c.has_metric.is_(True), latest.c.value.is_not(None)),
                    latest.c.value,
                ),
                else_=items.c.current_value,
            ),
            last_update_on=if_newer(latest.c.as_of, items.c.last_update_on),
            last_update_comment=if_newer(latest.c.comment, items.c.last_update_comment),
            last_progress_user_id=if_newer(
                literal(user_id, type_=items.c.last_progress_user_id.type),
                items.c.last_progress_user_id,
            ),
            updates_count=items.c.updates_count + latest.c.rows,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def _update_items_from_metrics(connection: Connection, scope: Scope, job_id: str, now: Any) -> None:
    items = PlanItem.__table__
    latest = _latest_per_item(connection, MetricUpdate.__table__, scope, job_id, "value", "as_of")
    connection.execute(
        update(items)
        .where(
            items.c.id == latest.c.item_id,
            scope_criteria(items, scope),
            or_(items.c.last_metric_on.is_(None), latest.c.as_of >= items.c.last_metric_on),
        )
        .values(current_value=latest.c.value, last_metric_on=latest.c.as_of, updated_at=now)
    )
