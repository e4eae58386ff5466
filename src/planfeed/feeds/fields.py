"""Field descriptions and literal coercion shared by the feeds query language and the writer.

A module describes each of its fields with a :class:`FieldSpec`; a literal from a ``$filter``
(or a value from a POST/PUT body) is turned into the field's Python type by
:func:`coerce_literal`, which raises :class:`LiteralError` with a message in plain words.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from dateutil.parser import isoparse

#: What a literal may be before coercion: a quoted string from a filter (or a JSON string),
#: an unquoted number (int or Decimal; a JSON number may also be a float), true/false, or null.
Literal = str | int | float | Decimal | bool | None

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: Decimal literals must lie within 1e-40 .. 1e40 in magnitude (or be zero): both databases
#: compare them exactly, and nothing in planfeed holds larger numbers.
DECIMAL_MAX_EXPONENT = 40

_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATETIME_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:$|[T ])")
#: Characters no database column can hold: NUL (PostgreSQL refuses it) and lone surrogates
#: (they cannot be encoded as UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SHOWN_MAX = 60
#: '2025-01-01T10:00:00 01:00': an offset whose '+' a URL turned into a space
_LOST_PLUS = re.compile(r"[0-9] [0-9]{2}:?[0-9]{2}$")


class FieldType(enum.StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    DATE = "date"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What the query language needs to know about one field of a module."""

    name: str  # canonical PascalCase name, e.g. "CourseID", "StartDate", "CF_Region"
    type: FieldType
    filterable: bool = True
    sortable: bool = True
    nullable: bool = True


class LiteralError(ValueError):
    """A literal that does not fit its field's type; ``message`` says what would be right."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def field_lookup(specs: Iterable[FieldSpec]) -> dict[str, FieldSpec]:
    """The mapping the parsers take: lower-cased name -> spec (field names are case-insensitive)."""
    lookup: dict[str, FieldSpec] = {}
    for spec in specs:
        key = spec.name.lower()
        if key in lookup:
            raise ValueError(f"two fields are both named {spec.name!r} (ignoring case)")
        lookup[key] = spec
    return lookup


def show_literal(raw: Literal) -> str:
    """A literal as the client would have written it in a filter, shortened for messages."""
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str):
        text = raw if len(raw) <= _SHOWN_MAX else raw[:_SHOWN_MAX] + "…"
        return "'" + text.replace("'", "''") + "'"
    return str(raw)


def coerce_literal(field: FieldSpec, raw: Literal) -> Any:
    """Turn ``raw`` into the Python value of ``field``'s type; ``None`` stays ``None``.

    Raises LiteralError when the literal does not fit, saying which form would.
    """
    if raw is None:
        return None
    if isinstance(raw, str) and _UNSTORABLE.search(raw):
        raise LiteralError(
            f"{show_literal(raw)} contains a NUL character or an invalid (surrogate) character, "
            "which no field can hold; remove it"
        )
    coerce = _COERCERS[field.type]
    return coerce(raw)


def _string(raw: Literal) -> str:
    if isinstance(raw, str):
        return raw
    raise LiteralError(f"{show_literal(raw)} is not text; write text in single quotes, e.g. 'abc'")


def _integer(raw: Literal) -> int:
    value: int | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, Decimal | float) and _is_finite(raw):
        too_big = raw.adjusted() > 19 if isinstance(raw, Decimal) else abs(raw) > INT64_MAX
        if too_big:  # checked before int(), which 1e999999999 would make slow
            value = INT64_MAX + 1
        elif raw == int(raw):
            value = int(raw)
    elif isinstance(raw, str) and _INTEGER_TEXT.fullmatch(raw.strip()):
        digits = raw.strip()
        value = int(digits) if len(digits) <= 20 else INT64_MAX + 1
    if value is None:
        raise LiteralError(f"{show_literal(raw)} is not a whole number; write it as e.g. 42")
    if not INT64_MIN <= value <= INT64_MAX:
        raise LiteralError(
            f"{show_literal(raw)} is out of range; whole numbers lie between {INT64_MIN} "
            f"and {INT64_MAX}"
        )
    return value


def _is_finite(value: Decimal | float) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def _decimal(raw: Literal) -> Decimal:
    value: Decimal | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, float) and math.isfinite(raw):
        value = Decimal(repr(raw))
    elif isinstance(raw, Decimal) and raw.is_finite():
        value = raw
    elif isinstance(raw, str) and _DECIMAL_TEXT.fullmatch(raw.strip()):
        try:
            value = Decimal(raw.strip())
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid text
            value = None
    if value is None:
        raise LiteralError(f"{show_literal(raw)} is not a number; write it as e.g. 12.5")
    if value and abs(value.adjusted()) > DECIMAL_MAX_EXPONENT:
        raise LiteralError(
            f"{show_literal(raw)} is out of range; numbers must lie between "
            f"1e-{DECIMAL_MAX_EXPONENT} and 1e{DECIMAL_MAX_EXPONENT} in size (or be 0)"
        )
    return value


def _boolean(raw: Literal) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in {"true", "false"}:
        return raw.strip().lower() == "true"
    raise LiteralError(f"{show_literal(raw)} is not a boolean; write true or false")


def _datetime(raw: Literal) -> dt.datetime:
    if isinstance(raw, dt.datetime):  # a writer may already hold one
        parsed: dt.datetime | None = raw
    else:
        parsed = _parse_iso(raw, _DATETIME_START)
    if parsed is None:
        hint = ""
        if isinstance(raw, str) and _LOST_PLUS.search(raw):
            hint = "; a + in a URL must be written %2B, or it arrives as a space"
        raise LiteralError(
            f"{show_literal(raw)} is not a date-time; write it as '2025-01-01T10:00:00' "
            f"(UTC unless it ends with Z or an offset such as +01:00){hint}"
        )
    try:
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    except (OverflowError, ValueError) as exc:
        raise LiteralError(
            f"{show_literal(raw)} is out of range once converted to UTC; use a date-time "
            "between years 1 and 9999"
        ) from exc


def _date(raw: Literal) -> dt.date:
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw
    parsed = _parse_iso(raw, _DATETIME_START)
    if parsed is not None and (
        parsed.time() == dt.time() and parsed.utcoffset() in (None, dt.timedelta(0))
    ):
        return parsed.date()
    raise LiteralError(f"{show_literal(raw)} is not a date; write it as '2025-01-01'")


def _parse_iso(raw: Literal, shape: re.Pattern[str]) -> dt.datetime | None:
    """ISO-8601 text (at least YYYY-MM-DD) as a datetime, or None when it is not one."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not shape.match(text):
        return None
    try:
        return isoparse(text)
    except (ValueError, OverflowError):
        return None


_COERCERS: dict[FieldType, Callable[[Literal], Any]] = {
    FieldType.STRING: _string,
    FieldType.INTEGER: _integer,
    FieldType.DECIMAL: _decimal,
    FieldType.BOOLEAN: _boolean,
    FieldType.DATETIME: _datetime,
    FieldType.DATE: _date,
}

__all__ = [
    "FieldSpec",
    "FieldType",
    "Literal",
    "LiteralError",
    "coerce_literal",
    "field_lookup",
    "show_literal",
]
