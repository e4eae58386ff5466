"""Compile a parsed feeds query into SQLAlchemy Core expressions (no session, no I/O).

The same expression must mean the same thing on SQLite and PostgreSQL, so:

* ``ne`` keeps rows where a nullable field is null (SQL's ``<>`` alone would drop them);
* ``contains``/``startswith``/``endswith`` are case-insensitive and treat ``%``, ``_`` and the
  escape character ``/`` literally (SQLAlchemy's ``icontains(..., autoescape=True)``: ILIKE on
  PostgreSQL, ``lower() LIKE lower()`` on SQLite);
* nulls sort first ascending and last descending on both databases (null is the smallest
  value, as in SQLite and OData), and the tiebreak column always ends the ordering so that
  pages neither repeat nor lose rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Float, Integer, Numeric, String, and_, literal, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from planfeed.feeds.query import BoolOp, Comparison, Node, OrderTerm, TextMatch


def filter_clause(node: Node, columns: Mapping[str, ColumnElement[Any]]) -> ColumnElement[bool]:
    """A WHERE clause for ``node``.

    ``columns`` maps each canonical field name to its SQL expression: a column, or a typed
    expression such as a JSON extraction cast to the field's type (``CF_`` fields). The
    expression's SQL type decides how values are bound, so give JSON extractions a real type
    (e.g. ``.as_string()``, ``.as_float()``), not the JSON type.
    """
    if isinstance(node, BoolOp):
        parts = [filter_clause(operand, columns) for operand in node.operands]
        return and_(*parts) if node.op == "and" else or_(*parts)
    if isinstance(node, TextMatch):
        column = _column(columns, node.field.name)
        if node.function == "contains":
            return column.icontains(node.value, autoescape=True)
        if node.function == "startswith":
            return column.istartswith(node.value, autoescape=True)
        if node.function == "endswith":
            return column.iendswith(node.value, autoescape=True)
        raise ValueError(f"unknown text function {node.function!r}")
    if isinstance(node, Comparison):
        return _comparison(node, _column(columns, node.field.name))
    raise TypeError(f"not a filter node: {node!r}")


def _comparison(node: Comparison, column: ColumnElement[Any]) -> ColumnElement[bool]:
    if node.value is None:
        if node.op == "eq":
            return column.is_(None)
        if node.op == "ne":
            return column.is_not(None)
        raise ValueError(f"null cannot be compared with {node.op}")
    value = _bind(column, node.value)
    if node.op == "eq":
        return column == value
    if node.op == "ne":
        different = column != value
        return or_(different, column.is_(None)) if node.field.nullable else different
    if node.op == "lt":
        return column < value
    if node.op == "le":
        return column <= value
    if node.op == "gt":
        return column > value
    if node.op == "ge":
        return column >= value
    raise ValueError(f"unknown comparison operator {node.op!r}")


def _bind(column: ColumnElement[Any], value: Any) -> Any:
    """The value as a bound parameter the column's type (and both databases) can take."""
    column_type = column.type
    if isinstance(column_type, TypeDecorator):
        return literal(value, type_=column_type)  # the decorator knows its own storage
    if isinstance(value, dt.date) and isinstance(column_type, String):
        # a date kept as text (e.g. a CF_ field extracted from JSON with .as_string()): ISO-8601
        # text in UTC sorts and compares like the value, provided it is stored the same way
        return literal(value.isoformat(), type_=column_type)
    if isinstance(value, dt.datetime) and isinstance(column_type, DateTime):
        if not column_type.timezone:  # a naive column holds UTC wall-clock times
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return literal(value, type_=column_type)
    if isinstance(value, Decimal):
        if isinstance(column_type, Float) or not isinstance(column_type, Numeric):
            # a float column (or an untyped expression) compares with a float; Decimal objects
            # cannot be bound on SQLite without a Numeric type to convert them
            return literal(float(value), type_=Float())
        # an unconstrained NUMERIC: the column's own NUMERIC(12, 2) would round 0.001 to 0.00,
        # and overflow (a database error) for 1e20
        return literal(value, type_=Numeric(asdecimal=True))
    if isinstance(value, int) and not isinstance(value, bool) and isinstance(column_type, Integer):
        # PostgreSQL casts the parameter to the column's type: INTEGER overflows past 2**31
        return literal(value, type_=BigInteger())
    return literal(value, type_=column_type)


def order_clauses(
    terms: Sequence[OrderTerm],
    columns: Mapping[str, ColumnElement[Any]],
    tiebreak: ColumnElement[Any],
) -> list[ColumnElement[Any]]:
    """ORDER BY expressions for ``terms``, always ending with ``tiebreak`` ascending.

    Nulls come first ascending and last descending on both databases. A field that cannot be
    null gets a plain ASC/DESC, so PostgreSQL can read the order from an index (its own default
    puts nulls the other way round, and an explicit NULLS clause would force a sort).
    """
    clauses: list[ColumnElement[Any]] = []
    for term in terms:
        column = _column(columns, term.field.name)
        if not term.field.nullable:
            clauses.append(column.desc() if term.descending else column.asc())
            continue
        clauses.append(
            column.desc().nulls_last() if term.descending else column.asc().nulls_first()
        )
    clauses.append(tiebreak.asc())
    return clauses


def _column(columns: Mapping[str, ColumnElement[Any]], name: str) -> ColumnElement[Any]:
    try:
        return columns[name]
    except KeyError:
        raise KeyError(f"no SQL expression given for the field {name!r}") from None


__all__ = ["filter_clause", "order_clauses"]
