"""coerce_literal: the one place a filter literal or a body value becomes a field's type."""

import datetime as dt
from decimal import Decimal

import pytest

from planfeed.feeds import FieldSpec, FieldType, LiteralError, coerce_literal, field_lookup

S = FieldSpec("Label", FieldType.STRING)
INT = FieldSpec("SpacesLeft", FieldType.INTEGER)
D = FieldSpec("Price", FieldType.DECIMAL)
B = FieldSpec("Active", FieldType.BOOLEAN)
T = FieldSpec("StartDate", FieldType.DATETIME)
DAY = FieldSpec("Day", FieldType.DATE)
UTC = dt.UTC


@pytest.mark.parametrize(
    ("spec", "raw", "expected"),
    [
        (S, "abc", "abc"),
        (S, "", ""),
        (INT, 5, 5),
        (INT, "5", 5),
        (INT, " -7 ", -7),
        (INT, 5.0, 5),
        (INT, Decimal("5.00"), 5),
        (INT, 2**63 - 1, 2**63 - 1),
        (D, "12.5", Decimal("12.5")),
        (D, 12.5, Decimal("12.5")),
        (D, 0.1, Decimal("0.1")),
        (D, 3, Decimal(3)),
        (D, ".5", Decimal("0.5")),
        (D, Decimal("-1E+3"), Decimal("-1E+3")),
        (D, 0, Decimal(0)),
        (B, True, True),
        (B, "FALSE", False),
        (B, "true", True),
        (T, "2025-01-01T10:00:00", dt.datetime(2025, 1, 1, 10, tzinfo=UTC)),
        (T, "2025-01-01", dt.datetime(2025, 1, 1, tzinfo=UTC)),
        (T, "2025-01-01T10:00:00-05:00", dt.datetime(2025, 1, 1, 15, tzinfo=UTC)),
        (T, "2025-01-01 10:00", dt.datetime(2025, 1, 1, 10, tzinfo=UTC)),
        (T, dt.datetime(2025, 1, 1, 10), dt.datetime(2025, 1, 1, 10, tzinfo=UTC)),
        (DAY, "2025-02-28", dt.date(2025, 2, 28)),
        (DAY, dt.date(2025, 2, 28), dt.date(2025, 2, 28)),
        (DAY, "2025-02-28T00:00:00Z", dt.date(2025, 2, 28)),
    ],
)
def test_good_literals(spec, raw, expected):
    value = coerce_literal(spec, raw)
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(value, dt.datetime):
        assert value.tzinfo is UTC


@pytest.mark.parametrize("spec", [S, INT, D, B, T, DAY])
def test_null_is_none_for_every_type(spec):
    assert coerce_literal(spec, None) is None


@pytest.mark.parametrize(
    ("spec", "raw", "message"),
    [
        (S, 5, "5 is not text; write text in single quotes, e.g. 'abc'"),
        (
            S,
            "a\x00",
            "'a\x00' contains a NUL character or an invalid (surrogate) character, "
            "which no field can hold; remove it",
        ),
        (
            S,
            "\ud800",
            "'\ud800' contains a NUL character or an invalid (surrogate) character, "
            "which no field can hold; remove it",
        ),
        (INT, 5.5, "5.5 is not a whole number; write it as e.g. 42"),
        (INT, "5.5", "'5.5' is not a whole number; write it as e.g. 42"),
        (INT, "1_000", "'1_000' is not a whole number; write it as e.g. 42"),
        (INT, "٣", "'٣' is not a whole number; write it as e.g. 42"),
        (INT, True, "true is not a whole number; write it as e.g. 42"),
        (INT, float("nan"), "nan is not a whole number; write it as e.g. 42"),
        (
            INT,
            2**63,
            "9223372036854775808 is out of range; whole numbers lie between "
            "-9223372036854775808 and 9223372036854775807",
        ),
        (
            INT,
            Decimal("1e999999999"),
            "1E+999999999 is out of range; whole numbers lie between "
            "-9223372036854775808 and 9223372036854775807",
        ),
        (
            INT,
            "9" * 5000,
            "'" + "9" * 60 + "…' is out of range; whole numbers lie between "
            "-9223372036854775808 and 9223372036854775807",
        ),
        (D, "NaN", "'NaN' is not a number; write it as e.g. 12.5"),
        (D, "Infinity", "'Infinity' is not a number; write it as e.g. 12.5"),
        (D, float("inf"), "inf is not a number; write it as e.g. 12.5"),
        (
            D,
            "1e41",
            "'1e41' is out of range; numbers must lie between 1e-40 and 1e40 in size (or be 0)",
        ),
        (D, "1,5", "'1,5' is not a number; write it as e.g. 12.5"),
        (D, False, "false is not a number; write it as e.g. 12.5"),
        (B, "yes", "'yes' is not a boolean; write true or false"),
        (B, 1, "1 is not a boolean; write true or false"),
        (
            T,
            "2025",
            "'2025' is not a date-time; write it as '2025-01-01T10:00:00' (UTC unless "
            "it ends with Z or an offset such as +01:00)",
        ),
        (
            T,
            "2025-02-30T10:00:00",
            "'2025-02-30T10:00:00' is not a date-time; write it as "
            "'2025-01-01T10:00:00' (UTC unless it ends with Z or an offset such as +01:00)",
        ),
        (
            T,
            20250101,
            "20250101 is not a date-time; write it as '2025-01-01T10:00:00' (UTC "
            "unless it ends with Z or an offset such as +01:00)",
        ),
        (
            T,
            "0001-01-01T00:00:00+01:00",
            "'0001-01-01T00:00:00+01:00' is out of range once "
            "converted to UTC; use a date-time between years 1 and 9999",
        ),
        (
            T,
            "2025-01-01T10:00:00 01:00",
            "'2025-01-01T10:00:00 01:00' is not a date-time; "
            "write it as '2025-01-01T10:00:00' (UTC unless it ends with Z or an offset such as "
            "+01:00); a + in a URL must be written %2B, or it arrives as a space",
        ),
        (DAY, "01/31/2025", "'01/31/2025' is not a date; write it as '2025-01-01'"),
        (
            DAY,
            "2025-01-31T10:00:00",
            "'2025-01-31T10:00:00' is not a date; write it as '2025-01-01'",
        ),
    ],
)
def test_bad_literals_say_what_would_be_right(spec, raw, message):
    with pytest.raises(LiteralError) as caught:
        coerce_literal(spec, raw)
    assert caught.value.message == message


def test_field_lookup_is_lower_cased_and_refuses_clashes():
    lookup = field_lookup([S, FieldSpec("CF_Region", FieldType.STRING)])
    assert list(lookup) == ["label", "cf_region"]
    with pytest.raises(ValueError, match="two fields are both named 'LABEL'"):
        field_lookup([S, FieldSpec("LABEL", FieldType.STRING)])
