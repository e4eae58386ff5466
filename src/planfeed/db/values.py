"""``column IN (many values)`` as one bound parameter, for statements over thousands of ids.

An expanding IN renders one placeholder per value on every execution (and SQLite caps their
number); a JSON array on SQLite (``json_each``) or an array on PostgreSQL (``= ANY``) is one
parameter, so the statement is compiled once and cached like any other. The same parameter can
also be a table to join from (:func:`values_table`), and many rows a table of several columns
(:func:`rows_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    String,
    TableValuedAlias,
    any_,
    bindparam,
    cast,
    column,
    func,
    select,
    type_coerce,
    values,
)


def one_of(column: Any, values: Sequence[Any], dialect_name: str) -> ColumnElement[bool]:
    """``column`` is one of ``values`` (strings or integers), for the given dialect."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    if dialect_name == "sqlite":
        listed = func.json_each(
            bindparam(None, orjson.dumps(list(values)).decode(), type_=String)
        ).table_valued("value")
        return column.in_(select(listed.c.value))
    return column.in_(values)


def rows_of(
    name: str, columns: Sequence[tuple[str, Any]], rows: Sequence[Sequence[Any]], dialect_name: str
) -> Any:
    """``rows`` as a table named ``name`` with ``columns`` ((name, type) pairs), to join or
    update from: one array per column (``unnest``) on PostgreSQL, one JSON array (``json_each``)
    on SQLite, a VALUES list elsewhere. Values are as the driver takes them (dates as ISO
    strings on SQLite).

    A job's 100,000 per-item results go to the database as a few parameters, not as 100,000
    statements."""
    names = [column_name for column_name, _ in columns]
    if dialect_name == "postgresql":
        arrays = [
            bindparam(None, [row[index] for row in rows], type_=ARRAY(column_type))
            for index, (_, column_type) in enumerate(columns)
        ]
        return func.unnest(*arrays).table_valued(*names, name=name).render_derived()
    if dialect_name == "sqlite":
        return json_rows(name, columns, orjson.dumps([list(row) for row in rows]).decode())
    return values(*(column(n, t) for n, t in columns), name=name).data([tuple(row) for row in rows])


def json_rows(name: str, columns: Sequence[tuple[str, Any]], document: str) -> Any:
    """SQLite: ``document``, a JSON array of arrays, as a table named ``name`` whose
    ``columns`` ((name, type) pairs) are the arrays' cells in order (``json_each``)."""
    each = func.json_each(bindparam(None, document, type_=String)).table_valued("value")
    return select(
        *(
            type_coerce(func.json_extract(each.c.value, f"$[{index}]"), column_type).label(
                column_name
            )
            for index, (column_name, column_type) in enumerate(columns)
        )
    ).subquery(name)


def values_table(name: str, dialect_name: str) -> TableValuedAlias:
    """A one-column table (column ``value``) of integers to join from, given as the one bound
    parameter ``name`` (its value from :func:`values_parameter`): a JSON array on SQLite
    (``json_each``), an array literal cast to ``integer[]`` on PostgreSQL (``unnest``).

    The literal is one ``join`` in Python; psycopg's list adapter dumps and checks each element
    in Python, a millisecond or more for 1,500 ids. And where ``id = ANY(array)`` has
    PostgreSQL's planner estimate the array element by element (a millisecond again), a join
    leaves it a choice of join. SQLite and PostgreSQL only."""
    if dialect_name == "postgresql":
        return (
            func.unnest(cast(bindparam(name, type_=String), ARRAY(Integer)))
            .table_valued(column("value", Integer))
            .render_derived()
        )
    if dialect_name == "sqlite":
        return func.json_each(bindparam(name, type_=String)).table_valued(column("value", Integer))
    raise NotImplementedError(f"values_table does not support {dialect_name}")


def values_parameter(values: Sequence[int], dialect_name: str) -> str:
    """The value of a :func:`values_table` parameter listing ``values``."""
    if dialect_name == "postgresql":
        return "{" + ",".join(map(str, map(int, values))) + "}"
    return orjson.dumps(list(values)).decode()
