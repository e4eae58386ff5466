"""Hypothesis: no input makes the parsers raise anything but QueryError, and every filter they
accept compiles (with its bound values processed) on the SQLite and PostgreSQL dialects."""

import datetime as dt
from decimal import Decimal

from feeds_sample import COLUMNS, FIELDS, PROBE, SPECS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from planfeed.feeds import (
    FieldType,
    QueryError,
    filter_clause,
    order_clauses,
    parse_filter,
    parse_orderby,
    parse_query,
    parse_select,
)

DIALECTS = (sqlite.dialect(), postgresql.psycopg.dialect())
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NAMES = [spec.name for spec in SPECS]
VOCABULARY = [
    *NAMES,
    *(name.lower() for name in NAMES),
    *(name.upper() for name in NAMES),
    "Unknown",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "EQ",
    "and",
    "or",
    "AND",
    "Or",
    "not",
    "contains",
    "startswith",
    "endswith",
    "ENDSWITH",
    "tolower",
    "substringof",
    "asc",
    "desc",
    "(",
    ")",
    ",",
    "'",
    "''",
    "'x'",
    "'FirAid'",
    "'a''b'",
    "'%_\\/'",
    "'2025-01-01T10:00:00'",
    "'2025-01-01'",
    "'2025-02-30'",
    "'0001-01-01T00:00:00+05:00'",
    "2025-01-01",
    "2025-01-01T10:00:00Z",
    "5",
    "-3",
    "12.5",
    "5.0",
    "1e999",
    "1e999999999",
    "-0",
    "99999999999999999999999999999",
    "true",
    "false",
    "null",
    "NULL",
    '"',
    "=",
    "!=",
    ">=",
    "&&",
    "||",
    "*",
    "$",
    "/",
    ".",
    "-",
    "+5",
    "\x00",
    "'\x00'",
    "\u00e9",
    "\ufeff",
]
SEPARATORS = st.sampled_from(["", " ", "  ", "\t", "\n", " \r\n "])
TOKEN = st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=4))
SOUP = st.lists(st.tuples(TOKEN, SEPARATORS), max_size=40).map(
    lambda pairs: "".join(token + separator for token, separator in pairs)
)
ANY_TEXT = st.one_of(st.text(max_size=300), SOUP)
OPTION_NAMES = st.sampled_from(
    ["$filter", "$orderby", "$select", "$top", "$skip", "$count", "$upsert", "$FILTER", "$x"]
)


def attempt(call, *args, **kwargs):
    """(result, None) or (None, the QueryError); any other exception fails the test."""
    try:
        return call(*args, **kwargs), None
    except QueryError as exc:
        return None, exc


def compile_everywhere(node) -> None:
    """Compile the filter as a statement and run every bound value through its bind processor."""
    statement = select(PROBE.c.id).where(filter_clause(node, COLUMNS))
    for dialect in DIALECTS:
        compiled = statement.compile(dialect=dialect)
        assert "WHERE" in str(compiled)
        for bind, name in compiled.bind_names.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            value = compiled.params[name]
            if processor is not None:
                value = processor(value)
            assert not isinstance(value, Decimal) or dialect.name == "postgresql"


@FUZZ
@given(text=ANY_TEXT)
def test_filter_only_raises_query_error_and_what_parses_compiles(text):
    node, error = attempt(parse_filter, text, FIELDS)
    if error is not None:
        assert error.errors
        for detail in error.errors:
            assert detail.option == "$filter"
            assert detail.message
            assert detail.position is None or 0 <= detail.position <= len(text)
        return
    compile_everywhere(node)


@FUZZ
@given(text=ANY_TEXT)
def test_orderby_and_select_only_raise_query_error(text):
    for parse in (parse_orderby, parse_select):
        result, error = attempt(parse, text, FIELDS)
        if error is not None:
            assert all(0 <= (d.position or 0) <= len(text) for d in error.errors)
            continue
        assert isinstance(result, tuple)
        if parse is parse_orderby:
            clauses = order_clauses(result, COLUMNS, PROBE.c.id)
            for dialect in DIALECTS:
                str(select(PROBE.c.id).order_by(*clauses).compile(dialect=dialect))


@FUZZ
@given(
    params=st.lists(st.tuples(st.one_of(OPTION_NAMES, st.text(max_size=8)), ANY_TEXT), max_size=8),
    allow_upsert=st.booleans(),
)
def test_parse_query_only_raises_query_error(params, allow_upsert):
    query, error = attempt(parse_query, params, FIELDS, allow_upsert=allow_upsert)
    if error is not None:
        assert all(detail.to_dict()["message"] for detail in error.errors)
        return
    assert 1 <= query.top <= 1000
    assert query.offset >= 0
    for node in (query.filter, query.upsert):
        if node is not None:
            compile_everywhere(node)


# --------------------------------------------------------------------------- well-formed filters


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
LITERALS = {
    FieldType.STRING: TEXT.map(quoted),
    FieldType.INTEGER: st.one_of(
        st.integers(-(2**63), 2**63 - 1).map(str), st.integers(-100, 100).map(lambda i: f"'{i}'")
    ),
    FieldType.DECIMAL: st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**9), max_value=10**9).map(
            str
        ),
        st.integers(-1000, 1000).map(str),
    ),
    FieldType.BOOLEAN: st.sampled_from(["true", "false", "TRUE", "'false'"]),
    FieldType.DATETIME: st.one_of(
        st.datetimes(
            min_value=dt.datetime(1900, 1, 1),
            max_value=dt.datetime(2200, 1, 1),
            timezones=st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=-5))]),
        ).map(lambda d: quoted(d.isoformat())),
        st.dates().map(lambda d: quoted(d.isoformat())),
    ),
    FieldType.DATE: st.dates()
    .map(lambda d: d.isoformat())
    .flatmap(lambda d: st.sampled_from([d, quoted(d)])),
}
FILTERABLE = [spec for spec in SPECS if spec.filterable]


@st.composite
def conditions(draw) -> str:
    spec = draw(st.sampled_from(FILTERABLE))
    name = draw(st.sampled_from([spec.name, spec.name.lower(), spec.name.upper()]))
    if spec.type is FieldType.STRING and draw(st.booleans()):
        function = draw(st.sampled_from(["contains", "startswith", "endswith", "Contains"]))
        return f"{function}({name},{draw(TEXT.map(quoted))})"
    if draw(st.integers(0, 9)) == 0:
        return f"{name} {draw(st.sampled_from(['eq', 'ne']))} null"
    ops = ["eq", "ne"] if spec.type is FieldType.BOOLEAN else ["eq", "ne", "lt", "le", "gt", "ge"]
    return f"{name} {draw(st.sampled_from(ops))} {draw(LITERALS[spec.type])}"


FILTERS = st.recursive(
    conditions(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or", "AND", "Or"]), inner).map(" ".join),
        inner.map(lambda text: f"({text})"),
    ),
    max_leaves=12,
)


@FUZZ
@given(text=FILTERS)
def test_well_formed_filters_parse_and_compile(text):
    node, error = attempt(parse_filter, text, FIELDS)
    if error is not None:
        # only the limits may refuse a well-formed filter
        assert all(
            "more than" in d.message or "characters long" in d.message for d in error.errors
        ), error.errors
        return
    compile_everywhere(node)
