"""A small builder for feeds ``$filter`` strings, so quoting is never done by hand.

``F.Status == "Available"`` gives ``Status eq 'Available'``; ``&`` and ``|`` combine (``and``
binds tighter than ``or``, as in OData, so parentheses appear only where they change the
meaning); quotes inside strings are doubled (``'O''Neil'``); ``None`` is ``null``. Python's
``and``/``or`` cannot be overloaded, so an expression refuses to be used as a bool.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")


def literal(value: Any) -> str:
    """One value as a filter literal: strings and dates quoted (quotes doubled), numbers bare."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return literal(value.value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} cannot be written in a filter")
        return repr(value)
    if isinstance(value, dt.datetime):
        text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
        return f"'{text}'"
    if isinstance(value, dt.date):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(
        f"cannot use a {type(value).__name__} in a filter; "
        "use str, int, float, Decimal, bool, date, datetime or None"
    )


class Expr:
    """A boolean filter expression; combine with ``&`` (and) and ``|`` (or)."""

    precedence = 3  # a comparison or function call never needs parentheses

    def render(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"<filter {self.render()}>"

    def __and__(self, other: Expr) -> Expr:
        return _combine(And, self, other)

    def __or__(self, other: Expr) -> Expr:
        return _combine(Or, self, other)

    def __bool__(self) -> bool:
        raise TypeError(
            "a filter expression has no truth value: combine filters with & and |, "
            "not `and`/`or`, and compare one field at a time (no a < F.x < b)"
        )


def _combine(kind: type[_Junction], left: Expr, right: Expr) -> Expr:
    if not isinstance(right, Expr):
        return NotImplemented
    parts: list[Expr] = []
    for side in (left, right):
        parts.extend(side.parts if isinstance(side, kind) else (side,))
    return kind(tuple(parts))


@dataclass(frozen=True, eq=False, repr=False)
class Raw(Expr):
    """A filter written by hand, e.g. ``Raw("Status eq 'Available'")``; treated as an ``or``
    at worst, so it is parenthesised when combined with ``&``."""

    text: str
    precedence = 1

    def render(self) -> str:
        return self.text


@dataclass(frozen=True, eq=False, repr=False)
class Comparison(Expr):
    field: str
    operator: str
    value: Any

    def render(self) -> str:
        return f"{self.field} {self.operator} {literal(self.value)}"


@dataclass(frozen=True, eq=False, repr=False)
class Call(Expr):
    function: str
    field: str
    value: Any

    def render(self) -> str:
        return f"{self.function}({self.field},{literal(self.value)})"


@dataclass(frozen=True, eq=False, repr=False)
class _Junction(Expr):
    parts: tuple[Expr, ...]
    word = ""

    def render(self) -> str:
        rendered = []
        for part in self.parts:
            text = part.render()
            rendered.append(f"({text})" if part.precedence < self.precedence else text)
        return f" {self.word} ".join(rendered)


class And(_Junction):
    precedence = 2
    word = "and"


class Or(_Junction):
    precedence = 1
    word = "or"


class Field:
    """A field of a module; comparisons with it build :class:`Expr` values."""

    __slots__ = ("name",)
    __hash__ = None  # type: ignore[assignment]  # == builds an expression

    def __init__(self, name: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a field name (letters, digits and _ only)")
        self.name = name

    def __repr__(self) -> str:
        return f"F.{self.name}"

    def __eq__(self, value: Any) -> Expr:  # type: ignore[override]
        return Comparison(self.name, "eq", value)

    def __ne__(self, value: Any) -> Expr:  # type: ignore[override]
        return Comparison(self.name, "ne", value)

    def __lt__(self, value: Any) -> Expr:
        return Comparison(self.name, "lt", value)

    def __le__(self, value: Any) -> Expr:
        return Comparison(self.name, "le", value)

    def __gt__(self, value: Any) -> Expr:
        return Comparison(self.name, "gt", value)

    def __ge__(self, value: Any) -> Expr:
        return Comparison(self.name, "ge", value)

    def contains(self, text: str) -> Expr:
        return Call("contains", self.name, text)

    def startswith(self, text: str) -> Expr:
        return Call("startswith", self.name, text)

    def endswith(self, text: str) -> Expr:
        return Call("endswith", self.name, text)

    def isin(self, values: Iterable[Any]) -> Expr:
        """``Field eq a or Field eq b …``; at least one value."""
        comparisons: list[Expr] = [Comparison(self.name, "eq", v) for v in values]
        if not comparisons:
            raise ValueError(f"isin() on {self.name} needs at least one value")
        return comparisons[0] if len(comparisons) == 1 else Or(tuple(comparisons))


class _FieldFactory:
    """``F.Status`` or ``F["CF_Region"]``: a field by name."""

    def __getattr__(self, name: str) -> Field:
        if name.startswith("__"):
            raise AttributeError(name)
        return Field(name)

    def __getitem__(self, name: str) -> Field:
        return Field(name)


F = _FieldFactory()


def to_filter(value: str | Expr) -> str:
    """A ``$filter`` string from text or an expression."""
    return value if isinstance(value, str) else value.render()
