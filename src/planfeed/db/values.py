"""``column IN (many values)`` as one bound parameter, for statements over thousands of ids.

An expanding IN renders one placeholder per value on every execution (and SQLite caps their
number); a JSON array on SQLite (``json_each``) or an array on PostgreSQL (``= ANY``) is one
parameter, so the statement is compiled once and cached like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import ARRAY, ColumnElement, String, any_, bindparam, func, select


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
