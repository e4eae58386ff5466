"""Validating a claimed job's file against the database, and applying it in one transaction.

Hot path, sized for 100,000-row files (see bench/bench_batch.py and docs/performance.md):

- items are looked up with one Core statement for the whole file (a scan of the scope's items
  for a file naming many of them, else a JSON array parameter on SQLite, an array on
  PostgreSQL), limited to the caller's scope by ``scope_criteria``;
- history rows are bulk-loaded in one operation (COPY on PostgreSQL, one ``INSERT … SELECT``
  from a JSON array on SQLite), skipping SQLAlchemy's per-row parameter processing;
- the per-item summary (latest row by As Of Date, then file order, and the row count) comes
  from the same rows: a file naming each item once is its own summary, the job's new rows read
  back by the job's index; otherwise one ``DISTINCT ON`` over them on PostgreSQL, an upsert of
  the file's JSON array into a temporary table on SQLite. Every touched item's progress row
  (the narrow ``plan_item_progress``, see ``plans.models``) is updated by one UPDATE … FROM that
  summary;
- a progress row with a value is also the item's metric history (``plans.history``): it is
  not copied into ``metric_updates``.

An update dated before the item's latest keeps its place in the history but changes neither
the status nor the current value. The caller owns the transaction (one per job).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Integer,
    Table,
    and_,
    case,
    column,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy import table as named_table
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from planfeed.auth.permissions import editable_plan_ids
from planfeed.auth.principal import Principal
from planfeed.db.base import utcnow
from planfeed.db.rows import plain_rows
from planfeed.db.scope import Scope, scope_criteria, scope_criteria_by_key
from planfeed.db.values import one_of, rows_of
from planfeed.ingest import BatchKind, ItemFacts, ParseResult, RowError, check_against_items
from planfeed.plans.models import (
    ITEM_PROGRESS,
    ITEMS,
    MetricUpdate,
    ProgressUpdate,
    UpdateSource,
)

LOOKUP_CHUNK = 900  # dialects other than SQLite and PostgreSQL: IN lists of this size


@dataclass(frozen=True, slots=True)
class FoundItems:
    """The file's items by External ID: their ids, and what validation needs to know.

    Facts are shared instances (there are four combinations), so a 100,000-row file costs two
    dict entries per item and no object of its own."""

    ids: dict[str, int]
    facts: dict[str, ItemFacts]


class MissingProgressRows(RuntimeError):
    """An item without its ``plan_item_progress`` row: the database was written past the ORM
    and ``plans.models.insert_item_rows``. The job fails (and its transaction rolls back)
    rather than apply part of the file."""


@dataclass(frozen=True, slots=True)
class Summary:
    """The per-item summary of a file's history rows, to update the items from.

    ``rows`` has ``item_id``, ``rows`` (the item's row count in the file) and the winning row's
    other columns. ``by_key``: the update should scan ``rows`` and reach each item by primary
    key (see :func:`planfeed.db.scope.scope_criteria_by_key`); otherwise ``rows`` is keyed
    by item id and the plain scope condition lets the planner choose. ``temporary``: ``rows``
    is a temporary table, dropped after the update so it never outlives the job on a pooled
    connection. ``items``: how many items (rows of ``rows``)."""

    rows: Any
    items: int
    by_key: bool = False
    temporary: bool = False

    def in_scope(self, table: Table, scope: Scope, dialect_name: str) -> Any:
        if self.by_key:
            return scope_criteria_by_key(table, scope, dialect_name)
        return scope_criteria(table, scope)


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
    wanted = external_ids if isinstance(external_ids, set | frozenset) else set(external_ids)
    found = FoundItems({}, {})
    if not wanted:
        return found
    connection = session.connection()
    table = ITEMS
    # has_metric as the driver gives it (0/1 on SQLite, a bool on PostgreSQL): both index a
    # pair, and 100,000 rows skip the Boolean type's conversion.
    has_metric = type_coerce(table.c.has_metric, Integer)
    columns = select(table.c.external_id, table.c.id, table.c.plan_id, has_metric).where(
        scope_criteria(table, principal.scope)
    )
    dialect = connection.dialect.name
    in_scope = connection.execute(
        select(func.count()).select_from(table).where(scope_criteria(table, principal.scope))
    ).scalar_one()
    ids = list(wanted)
    if len(ids) >= SCAN_SHARE * in_scope:
        batches = [[row for row in plain_rows(connection, columns) if row[0] in wanted]]
    elif dialect in ("postgresql", "sqlite"):
        batches = [plain_rows(connection, columns.where(one_of(table.c.external_id, ids, dialect)))]
    else:
        batches = [
            connection.execute(
                columns.where(table.c.external_id.in_(ids[start : start + LOOKUP_CHUNK]))
            ).all()
            for start in range(0, len(ids), LOOKUP_CHUNK)
        ]
    for rows in batches:  # comprehensions: a 100,000-item file makes these dicts in full
        found.ids.update({row[0]: row[1] for row in rows})
        if editable_ids is None:
            writable = (_FACTS[False, True], _FACTS[True, True])  # by has_metric (0/1, a bool)
            found.facts.update({row[0]: writable[row[3]] for row in rows})
        else:
            found.facts.update(
                {row[0]: _FACTS[bool(row[3]), row[2] in editable_ids] for row in rows}
            )
    return found


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

    ``job_id`` marks each history row with the job that wrote it (a one-off update finds its
    row by it).
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
        history = [
            (
                item_ids[row.external_id],
                int(row.status) if row.status is not None else 0,  # not .value: 3x slower
                row.metric_value,
                as_of(row.as_of),
                row.comment,
            )
            for row in result.rows
        ]
        latest = _record_history(
            connection,
            scope,
            table,
            common,
            ("item_id", "status", "value", "as_of", "comment"),
            history,
        )
        del history
        _update_items_from_progress(connection, scope, latest, principal.user_id, now)
        _discard(connection, latest)
    else:
        table = MetricUpdate.__table__
        as_of = _driver_values(connection, table.c.as_of)
        history = [
            (item_ids[row.external_id], row.metric_value, as_of(row.as_of))
            for row in result.rows
            if row.metric_value is not None
        ]
        latest = _record_history(
            connection, scope, table, common, ("item_id", "value", "as_of"), history
        )
        del history
        _update_items_from_metrics(connection, scope, latest, now)
        _discard(connection, latest)
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


def _record_history(
    connection: Connection,
    scope: Scope,
    table: Table,
    constants: dict[str, Any],
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> Summary:
    """Insert ``constants`` + each of ``rows`` (driver-ready values, see :func:`_driver_values`;
    ``columns`` start with ``item_id`` and include ``as_of``) as one bulk operation, and return
    the per-item summary to move the items by: a table of ``item_id``, ``rows`` (the item's row
    count in the file) and the other ``columns`` of its winning row, the one with the latest As
    Of Date, the later row of the file on a tie.

    - SQLite: the rows go in with one ``INSERT … SELECT`` from ``json_each`` of one JSON array
      (binding 100,000 rows × 11 values one by one would cost more than the insert itself).
    - PostgreSQL: COPY.
    - Both: a file naming each item once is its own summary, read back by the job's index
      (:func:`_job_rows`); otherwise SQLite upserts the same JSON array, in file order, into a
      temporary table keyed by item id, and PostgreSQL makes a ``DISTINCT ON`` query over the
      job's new rows.
    - Elsewhere: one executemany; the summary is made in Python and sent as a VALUES list.
    """
    dialect = connection.dialect
    names = (*constants, *columns)
    fixed = tuple(_driver_values(connection, table.c[name])(v) for name, v in constants.items())
    summary_columns = (
        ("item_id", Integer()),
        ("rows", Integer()),
        *((name, table.c[name].type) for name in columns[1:]),
    )
    if dialect.name == "sqlite":
        # Floats survive the trip exactly: orjson writes the shortest form that reads back as
        # the same double, and non-finite values never get here (the parser refuses them).
        document = orjson.dumps(rows).decode()
        _sqlite_insert_from_json(connection, table, names, fixed, len(columns), document)
        items = len({row[0] for row in rows})
        if items == len(rows):  # each item once: the job's rows are the summary
            summary = _job_rows(table, scope, constants["job_id"], columns, "sqlite")
            return Summary(summary, items, by_key=True)
        return Summary(
            _sqlite_summary_from_json(connection, summary_columns, document),
            items,
            temporary=True,
        )
    if rows and dialect.name == "postgresql":
        quote = dialect.identifier_preparer.quote
        statement = f"COPY {quote(table.name)} ({', '.join(quote(n) for n in names)}) FROM STDIN"
        driver = connection.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(fixed + row)
        items, job_id = len({row[0] for row in rows}), constants["job_id"]
        if items == len(rows):  # each item once: the job's rows are the summary, no sort
            return Summary(_job_rows(table, scope, job_id, columns, "postgresql"), items)
        # The summary sorts the job's rows: in memory, not on disk.
        connection.exec_driver_sql("SET LOCAL work_mem = '64MB'")
        return Summary(_postgresql_summary(table, scope, job_id, columns), items)
    if rows:
        _executemany_insert(connection, table, names, [fixed + row for row in rows])
    as_of = columns.index("as_of")
    summary = _latest_per_item((row[0], row[as_of], row[1:]) for row in rows)
    return Summary(rows_of("latest", summary_columns, summary, dialect.name), len(summary))


def _job_rows(
    table: Table, scope: Scope, job_id: str, columns: Sequence[str], dialect_name: str
) -> Any:
    """The rows the job has just written, read back as the summary of a file naming each item
    once (``rows`` is 1): found by the job's index, the scope checked on each row but never
    driving the statement (:func:`planfeed.db.scope.scope_criteria_by_key`).

    On SQLite this replaced reading the same rows from the file's JSON array a second time,
    which re-parsed each row's array for every column the update names (0.24-0.34 s against
    0.16-0.18 s for the update of 100,000 items). On PostgreSQL it spares the summary's sort."""
    return (
        select(
            table.c.item_id,
            literal_column("1", Integer()).label("rows"),
            *(table.c[name] for name in columns[1:]),
        )
        .where(table.c.job_id == job_id, scope_criteria_by_key(table, scope, dialect_name))
        .subquery("latest")
    )


def _postgresql_summary(table: Table, scope: Scope, job_id: str, columns: Sequence[str]) -> Any:
    """PostgreSQL: the per-item summary of a file naming some item more than once, made by the
    database from the rows the job has just copied in (found by the job's index, within the
    scope): one ``DISTINCT ON`` pass, instead of a summary made in Python and sent back as
    arrays, which cost more than the COPY itself."""
    item_id = table.c.item_id
    rows = (
        select(
            item_id,
            func.count().over(partition_by=item_id).label("rows"),
            *(table.c[name] for name in columns[1:]),
        )
        .where(table.c.job_id == job_id, scope_criteria_by_key(table, scope, "postgresql"))
        .ext(distinct_on(item_id))
        .order_by(item_id, table.c.as_of.desc(), table.c.id.desc())
    )
    return rows.subquery("latest")


def _executemany_insert(
    connection: Connection, table: Table, names: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """One executemany of ready rows (in ``names`` order), in the dialect's paramstyle."""
    compiled = insert(table).compile(dialect=connection.dialect, column_keys=list(names))
    if compiled.positiontup is None:  # a named paramstyle
        keyed = [dict(zip(names, row, strict=True)) for row in rows]
        connection.exec_driver_sql(compiled.string, keyed)  # type: ignore[arg-type]
        return
    order = [names.index(name) for name in compiled.positiontup]
    if order != list(range(len(names))):
        rows = [tuple(row[i] for i in order) for row in rows]
    connection.exec_driver_sql(compiled.string, rows)  # type: ignore[arg-type]


def _json_cells(first: int, count: int) -> str:
    """Cells ``first`` to ``first + count - 1`` of a ``json_each`` row that is itself an
    array."""
    return ", ".join(f"json_extract(value, '$[{index}]')" for index in range(first, first + count))


def _sqlite_insert_from_json(
    connection: Connection,
    table: Table,
    names: Sequence[str],
    fixed: tuple[Any, ...],
    varying: int,
    document: str,
) -> None:
    """``INSERT … SELECT`` of every row of ``document`` (a JSON array of arrays, the last
    ``varying`` columns of ``names``), with the constants ``fixed`` bound once."""
    quote = connection.dialect.identifier_preparer.quote
    constants = ", ".join("?" for _ in fixed)
    # Identifiers come from the table's definition; every value is bound.
    statement = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in names)}) "  # noqa: S608
        f"SELECT {constants}, {_json_cells(0, varying)} FROM json_each(?)"
    )
    connection.exec_driver_sql(statement, (*fixed, document))


SUMMARY_TABLE = "planfeed_job_latest"


def _sqlite_summary_from_json(
    connection: Connection, columns: Sequence[tuple[str, Any]], document: str
) -> Any:
    """SQLite: the per-item summary of ``document``'s rows (``item_id`` first, then the
    ``columns`` after ``rows``), as a temporary table keyed by item id.

    Each row is upserted in file order: the first row of an item is inserted, a later one
    counts and replaces the values unless its As Of Date is earlier (every ``SET`` reads the
    values from before the row). A table with a key keeps the UPDATE … FROM that follows
    index-driven: the JSON table itself has no index, and without table statistics SQLite may
    scan the items and re-read the whole JSON for each of them."""
    (key, _), (count, _), *values = columns
    value_names = [name for name, _ in values]
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{SUMMARY_TABLE}")
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {SUMMARY_TABLE} "
        f"({key} INTEGER PRIMARY KEY, {count} INTEGER, {', '.join(value_names)})"
    )
    later = "excluded.as_of >= as_of"
    replaced = ", ".join(
        f"{name} = CASE WHEN {later} THEN excluded.{name} ELSE {name} END" for name in value_names
    )
    connection.exec_driver_sql(
        f"INSERT INTO {SUMMARY_TABLE} ({key}, {count}, {', '.join(value_names)}) "  # noqa: S608
        f"SELECT {_json_cells(0, 1)}, 1, {_json_cells(1, len(value_names))} "
        "FROM json_each(?) WHERE true "
        f"ON CONFLICT ({key}) DO UPDATE SET {count} = {count} + 1, {replaced}",
        (document,),
    )
    return named_table(SUMMARY_TABLE, *(column(name, kind) for name, kind in columns))


def _latest_per_item(
    entries: Iterable[tuple[int, Any, tuple[Any, ...]]],
) -> list[tuple[Any, ...]]:
    """Per item of the file: ``(item_id, rows, *winning values)``, where the winning row is the
    one with the latest As Of Date, the later row of the file on a tie. ``entries`` are
    ``(item_id, as_of, values)`` in file order; ``as_of`` values compare as dates do."""
    latest: dict[int, list[Any]] = {}
    for item_id, as_of, values in entries:
        known = latest.get(item_id)
        if known is None:
            latest[item_id] = [1, as_of, values]
        else:
            known[0] += 1
            if as_of >= known[1]:
                known[1], known[2] = as_of, values
    return [(item_id, rows, *values) for item_id, (rows, _, values) in latest.items()]


def _discard(connection: Connection, summary: Summary) -> None:
    """Drop a temporary summary table once the items are updated from it."""
    if summary.temporary:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{SUMMARY_TABLE}")


def _update_items_from_progress(
    connection: Connection,
    scope: Scope,
    summary: Summary,
    user_id: int | None,
    now: Any,
) -> None:
    """Move every item of a progress file to its latest row (``summary``, from
    :func:`_record_history`), unless the item already has a later update: then only its update
    count grows (the row keeps its place in the history). A value becomes the current value
    only for an item with a metric. Only the narrow progress rows are written; the item rows
    are read, by key, for ``has_metric``."""
    progress, items = ITEM_PROGRESS, ITEMS
    latest = summary.rows
    newer = or_(progress.c.last_update_on.is_(None), latest.c.as_of >= progress.c.last_update_on)

    def if_newer(new: Any, old: Any) -> Any:
        return case((newer, new), else_=old)

    moved = connection.execute(
        update(progress)
        .where(
            progress.c.item_id == latest.c.item_id,
            summary.in_scope(progress, scope, connection.dialect.name),
            items.c.id == progress.c.item_id,
        )
        .values(
            status=if_newer(latest.c.status, progress.c.status),
            current_value=case(
                (
                    and_(newer, items.c.has_metric.is_(True), latest.c.value.is_not(None)),
                    latest.c.value,
                ),
                else_=progress.c.current_value,
            ),
            last_update_on=if_newer(latest.c.as_of, progress.c.last_update_on),
            last_update_comment=if_newer(latest.c.comment, progress.c.last_update_comment),
            last_progress_user_id=if_newer(
                literal(user_id, type_=progress.c.last_progress_user_id.type),
                progress.c.last_progress_user_id,
            ),
            updates_count=progress.c.updates_count + latest.c.rows,
            updated_at=now,
        )
    )
    if moved.rowcount != summary.items:  # every item found by the lookup has a progress row
        raise MissingProgressRows(
            f"{summary.items - moved.rowcount} of the file's {summary.items} items have no "
            "progress row; nothing was applied"
        )


def _update_items_from_metrics(
    connection: Connection, scope: Scope, summary: Summary, now: Any
) -> None:
    """Set each item's current value from its latest row of a metric file (``summary``, from
    :func:`_record_history`), unless the item already has a later metric value."""
    progress = ITEM_PROGRESS
    latest = summary.rows
    connection.execute(
        update(progress)
        .where(
            progress.c.item_id == latest.c.item_id,
            summary.in_scope(progress, scope, connection.dialect.name),
            or_(progress.c.last_metric_on.is_(None), latest.c.as_of >= progress.c.last_metric_on),
        )
        .values(current_value=latest.c.value, last_metric_on=latest.c.as_of, updated_at=now)
    )
