"""``column IN (many values)`` as one bound parameter, for statements over thousands of ids.

An expanding IN renders one placeholder per value on every execution (and SQLite caps their
number); a JSON array on SQLite (``json_each``) or an array on PostgreSQL (``= ANY``) is one
parameter, so the statement is compiled once and cached like any other. The same parameter can
also be a table to join from (:func:`values_table`).
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
