"""filter_clause and order_clauses against real tables on SQLite and PostgreSQL."""

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from feeds_sample import ATTRIBUTES, COLUMNS, FIELDS, PROBE, PROBE_METADATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import DateTime, Float, Integer, Numeric, String, column, func, select
from sqlalchemy.dialects import postgresql, sqlite

from planfeed.feeds import (
    BoolOp,
    Comparison,
    FieldSpec,
    FieldType,
    QueryError,
    TextMatch,
    filter_clause,
    order_clauses,
    parse_filter,
    parse_orderby,
    parse_query,
)

UTC = dt.UTC


def row(id_, course_id, label, status, start, day, spaces, price, active, score, region):
    return {
        "id": id_,
        "course_id": course_id,
        "label": label,
        "status": status,
        "email": f"user{id_}@my_company.com" if id_ % 3 else None,
        "start_date": start,
        "day": day,
        "spaces_left": spaces,
        "price": price,
        "active": active,
        "notes": None,
        "score": score,
        "custom_fields": {} if region is None else {"Region": region},
    }


T = dt.datetime
D = dt.date
ROWS = [
    row(1, "FirAid", "First Aid", "Available", T(2025, 1, 1, 10, tzinfo=UTC), D(2025, 1, 1), 5,
        Decimal("12.50"), True, 1.5, "North"),
    row(2, "FIRAID2", "100% sure", "Full", T(2025, 1, 1, 9, 59, 59, tzinfo=UTC), D(2025, 1, 2), 0,
        Decimal("0.00"), False, 2.25, "south"),
    row(3, "Safety", "snake_case", "Available", T(2025, 1, 1, 10, 0, 1, tzinfo=UTC),
        D(2024, 12, 31), None, None, None, None, None),
    row(4, "fir-aid-x", "back\\slash", "Cancelled", None, None, 12, Decimal("99.99"), True, 0.5,
        "North"),
    row(5, "Manual", "O'Neil", None, T(2026, 6, 30, 23, tzinfo=UTC), D(2025, 1, 1), 5,
        Decimal("12.5"), None, 12.5, None),
    row(6, "Other", None, "Available", T(2025, 1, 1, 11, tzinfo=UTC), D(2025, 1, 3), 3,
        Decimal("-4.25"), False, -1.0, ""),
    row(7, "Slash", "a/b", "Full", T(2024, 12, 31, 23, 59, tzinfo=UTC), D(2024, 1, 1), 7,
        Decimal("12.49"), True, 0.0, "NORTH"),
    row(8, "Percent", "100 percent", "Available", T(2025, 1, 1, 10, tzinfo=UTC), D(2025, 1, 1),
        5, Decimal("12.51"), True, 3.75, "north"),
    row(9, "Under", "x_y", None, None, D(2025, 1, 1), None, None, False, None, None),
    row(10, "Lookalike", "xay", "Available", T(2025, 1, 1, 10, tzinfo=UTC), D(2025, 1, 1), 5,
        Decimal("1.00"), True, 7.0, "west"),
    row(11, "Mixed", "MiXeD CaSe 'quoted'", "available", T(2025, 1, 2, tzinfo=UTC),
        D(2025, 1, 2), 5, Decimal("12.50"), True, 1.5, "North"),
    row(12, "Quote''", "it's ''double''", "Full", T(2025, 1, 1, 10, tzinfo=UTC), D(2025, 1, 1),
        1, Decimal("2.00"), None, None, "east"),
]  # fmt: skip


@pytest.fixture
def probe(db):
    """The throwaway table, created for the test and dropped after it."""
    PROBE_METADATA.drop_all(db.engine)
    PROBE_METADATA.create_all(db.engine)
    with db.engine.begin() as connection:
        connection.execute(PROBE.insert(), ROWS)
    yield db.engine
    PROBE_METADATA.drop_all(db.engine)


def ids(engine, text: str) -> list[int]:
    clause = filter_clause(parse_filter(text, FIELDS), COLUMNS)
    with engine.connect() as connection:
        return list(connection.scalars(select(PROBE.c.id).where(clause).order_by(PROBE.c.id)))


# --------------------------------------------------------------------------- filters


CASES = [
    # seed 004 forms
    ("CourseID eq 'FirAid'", [1]),
    ("CourseID ne 'FirAid'", [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    ("StartDate lt '2025-01-01T10:00:00'", [2, 7]),
    ("StartDate le '2025-01-01T10:00:00'", [1, 2, 7, 8, 10, 12]),
    ("StartDate gt '2025-01-01T10:00:00'", [3, 5, 6, 11]),
    ("StartDate ge '2025-01-01T10:00:00'", [1, 3, 5, 6, 8, 10, 11, 12]),
    ("contains(CourseID,'FirAid')", [1, 2]),
    ("startswith(CourseID,'Fir')", [1, 2, 4]),
    ("endswith(CourseID,'aid')", [1]),
    ("StartDate gt '2025-01-01T10:00:00' and status eq 'Available'", [3, 6]),
    ("StartDate gt '2025-01-01T10:00:00' or status eq 'Available'", [1, 3, 5, 6, 8, 10, 11]),
    # eq is exact, functions are case-insensitive
    ("Status eq 'available'", [11]),
    ("contains(status,'AVAIL')", [1, 3, 6, 8, 10, 11]),
    ("contains(Label,'mixed case')", [11]),
    # % _ \ / and quotes are literal inside the functions
    ("contains(Label,'%')", [2]),
    ("contains(Label,'100%')", [2]),
    ("startswith(Label,'100%')", [2]),
    ("contains(Label,'_')", [3, 9]),
    ("contains(Label,'x_y')", [9]),
    ("endswith(Label,'_case')", [3]),
    ("contains(Label,'\\')", [4]),
    ("contains(Label,'k\\s')", [4]),
    ("contains(Label,'/')", [7]),
    ("startswith(Label,'a/')", [7]),
    ("contains(Label,'''')", [5, 11, 12]),
    ("contains(Label,'''''')", [12]),
    ("Label eq 'O''Neil'", [5]),
    ("CourseID eq 'Quote'''''", [12]),
    ("contains(Label,'')", [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]),
    # ne keeps nulls; eq/ne null
    ("Label ne 'First Aid'", [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    ("Status ne 'Available'", [2, 4, 5, 7, 9, 11, 12]),
    ("Active ne true", [2, 3, 5, 6, 9, 12]),
    ("SpacesLeft ne 5", [2, 3, 4, 6, 7, 9, 12]),
    ("Label eq null", [6]),
    ("Label ne null", [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]),
    ("StartDate eq null", [4, 9]),
    ("CF_Region eq null", [3, 5, 9]),
    ("CF_Region ne 'North'", [2, 3, 5, 6, 7, 8, 9, 10, 12]),
    ("startswith(CF_Region,'nor')", [1, 4, 7, 8, 11]),
    ("CF_Region eq ''", [6]),
    # precedence and parentheses
    ("CourseID eq 'FirAid' or CourseID eq 'Safety' and Status eq 'Full'", [1]),
    ("(CourseID eq 'FirAid' or CourseID eq 'Safety') and Status eq 'Available'", [1, 3]),
    ("Status eq 'Full' and SpacesLeft lt 2 or Active eq false and Price lt 0", [2, 6, 12]),
    ("Status eq 'Full' and (SpacesLeft lt 2 or Active eq false) and Price lt 1", [2]),
    # typed comparisons
    ("StartDate eq '2025-01-01T11:00:00+01:00'", [1, 8, 10, 12]),
    ("StartDate lt '2025-01-01'", [7]),
    ("StartDate ge 2025-01-02T00:00:00Z", [5, 11]),
    ("Day eq '2025-01-01'", [1, 5, 8, 9, 10, 12]),
    ("Day lt 2025-01-01", [3, 7]),
    ("Day ge '2025-01-02'", [2, 6, 11]),
    ("Price eq 12.5", [1, 5, 11]),
    ("Price gt 12.5", [4, 8]),
    ("Price le '12.49'", [2, 6, 7, 10, 12]),
    ("Price lt 0", [6]),
    ("Score gt 1.5", [2, 5, 8, 10]),
    ("Score eq 2.25", [2]),
    ("Score le 0", [6, 7]),
    ("SpacesLeft ge 5", [1, 4, 5, 7, 8, 10, 11]),
    ("SpacesLeft eq '0'", [2]),
    ("Active eq true", [1, 4, 7, 8, 10, 11]),
    ("Active eq 'FALSE'", [2, 6, 9]),
]


def test_filters_select_exactly_the_right_rows(probe):
    """One table per backend for all cases (a table per case would spend most time on setup)."""
    wrong = [
        (text, got, expected) for text, expected in CASES if (got := ids(probe, text)) != expected
    ]
    assert wrong == []


def test_seed_upsert_filter_finds_one_user(probe):
    query = parse_query({"$upsert": "Email eq 'user5@my_company.com'"}, FIELDS, allow_upsert=True)
    with probe.connect() as connection:
        found = connection.scalars(
            select(PROBE.c.id).where(filter_clause(query.upsert, COLUMNS))
        ).all()
    assert found == [5]


# --------------------------------------------------------------------------- ordering and paging


def page_ids(engine, orderby: str, top: int, skip: int, text: str | None = None) -> list[int]:
    terms = parse_orderby(orderby, FIELDS) if orderby else ()
    statement = select(PROBE.c.id).order_by(*order_clauses(terms, COLUMNS, PROBE.c.id))
    if text:
        statement = statement.where(filter_clause(parse_filter(text, FIELDS), COLUMNS))
    with engine.connect() as connection:
        return list(connection.scalars(statement.limit(top).offset(skip * top)))


def test_order_with_nulls_and_tiebreak(probe):
    # nulls first ascending, last descending; equal values fall back to the id
    assert page_ids(probe, "SpacesLeft", 100, 0) == [3, 9, 2, 12, 6, 1, 5, 8, 10, 11, 7, 4]
    assert page_ids(probe, "spacesleft desc", 100, 0) == [4, 7, 1, 5, 8, 10, 11, 6, 12, 2, 3, 9]
    assert page_ids(probe, "Day desc,StartDate asc", 100, 0) == [
        6, 2, 11, 9, 1, 8, 10, 12, 5, 3, 7, 4,
    ]  # fmt: skip
    assert page_ids(probe, "Active desc, Price desc", 100, 0) == [
        4, 8, 1, 11, 7, 10, 2, 6, 9, 5, 12, 3,
    ]  # fmt: skip
    assert page_ids(probe, "", 100, 0) == list(range(1, 13))


def test_pages_neither_repeat_nor_lose_rows(probe):
    for orderby in ["", "SpacesLeft", "Status desc", "Day,Active desc", "Price", "CF_Region"]:
        everything = page_ids(probe, orderby, 100, 0)
        assert sorted(everything) == list(range(1, 13))
        for top in (1, 3, 5):
            pages = [page_ids(probe, orderby, top, skip) for skip in range(12 // top + 2)]
            assert [i for page in pages for i in page] == everything, (orderby, top)
            assert all(len(page) == top for page in pages[: 12 // top]), (orderby, top)


def test_count_ignores_paging(probe):
    query = parse_query({"$filter": "Status eq 'Available'", "$top": "2", "$skip": "1"}, FIELDS)
    clause = filter_clause(query.filter, COLUMNS)
    with probe.connect() as connection:
        total = connection.scalar(select(func.count()).select_from(PROBE).where(clause))
    assert total == 5
    assert page_ids(probe, "", query.top, query.skip, "Status eq 'Available'") == [6, 8]


# --------------------------------------------------------------------------- compiled SQL shape


def test_compiled_sql_shape():
    def sql(text: str, dialect) -> str:
        clause = filter_clause(parse_filter(text, FIELDS), COLUMNS)
        return str(clause.compile(dialect=dialect))

    assert sql("Label ne 'x'", sqlite.dialect()) == (
        "feeds_query_probe.label != ? OR feeds_query_probe.label IS NULL"
    )
    assert sql("CourseID ne 'x'", sqlite.dialect()) == "feeds_query_probe.course_id != ?"
    assert "ILIKE" in sql("contains(Label,'x')", postgresql.dialect())
    assert "ESCAPE '/'" in sql("contains(Label,'x')", postgresql.dialect())
    assert "lower(feeds_query_probe.label) LIKE" in sql("endswith(Label,'x')", sqlite.dialect())
    assert sql("Label eq null", sqlite.dialect()) == "feeds_query_probe.label IS NULL"
    terms = parse_orderby("Label desc", FIELDS)
    ordering = order_clauses(terms, COLUMNS, PROBE.c.id)
    assert [str(c.compile(dialect=sqlite.dialect())) for c in ordering] == [
        "feeds_query_probe.label DESC NULLS LAST",
        "feeds_query_probe.id ASC",
    ]


def test_values_bind_as_the_column_can_take_them():
    """Types are adapted: unconstrained NUMERIC, BIGINT, floats, ISO text for text columns."""

    def bound(spec_type, column, literal_text):
        spec = FieldSpec("X", spec_type)
        node = parse_filter(f"X eq {literal_text}", {"x": spec})
        clause = filter_clause(node, {"X": column})
        compiled = clause.compile(dialect=postgresql.psycopg.dialect())
        (value,) = compiled.params.values()
        return str(compiled), value

    text = column("t", String)
    assert bound(FieldType.DATETIME, text, "'2025-01-01T11:00:00+01:00'") == (
        "t = %(param_1)s::VARCHAR",
        "2025-01-01T10:00:00+00:00",
    )
    assert bound(FieldType.DATE, text, "2025-01-01") == ("t = %(param_1)s::VARCHAR", "2025-01-01")
    naive = column("n", DateTime())
    assert bound(FieldType.DATETIME, naive, "'2025-01-01T11:00:00+01:00'")[1] == dt.datetime(
        2025, 1, 1, 10
    )
    assert bound(FieldType.DECIMAL, column("f", Float), "0.5") == ("f = %(param_1)s", 0.5)
    assert bound(FieldType.DECIMAL, column("m", Numeric(12, 2)), "0.001") == (
        "m = %(param_1)s",
        Decimal("0.001"),
    )
    assert bound(FieldType.INTEGER, column("i", Integer), "3000000000")[0] == (
        "i = %(param_1)s::BIGINT"
    )


# --------------------------------------------------------------------------- reference semantics


def reference(node, record) -> bool:
    """What a filter means, in Python, for ASCII data (both databases must agree with it)."""
    if isinstance(node, BoolOp):
        results = [reference(operand, record) for operand in node.operands]
        return all(results) if node.op == "and" else any(results)
    value = getattr(record, ATTRIBUTES[node.field.name])
    if isinstance(node, TextMatch):
        if value is None:
            return False
        haystack, needle = value.lower(), node.value.lower()
        return {
            "contains": needle in haystack,
            "startswith": haystack.startswith(needle),
            "endswith": haystack.endswith(needle),
        }[node.function]
    assert isinstance(node, Comparison)
    if node.value is None:
        return (value is None) == (node.op == "eq")
    if value is None:
        return node.op == "ne" and node.field.nullable
    wanted = float(node.value) if isinstance(value, float) else node.value
    return {
        "eq": value == wanted,
        "ne": value != wanted,
        "lt": value < wanted,
        "le": value <= wanted,
        "gt": value > wanted,
        "ge": value >= wanted,
    }[node.op]


RECORDS = [SimpleNamespace(**{**r, "region": r["custom_fields"].get("Region")}) for r in ROWS]
ASCII_TEXT = st.sampled_from(
    ["", "a", "A", "fir", "FIR", "aid", "%", "_", "\\", "/", "'", "x_y", "100%", "north", "e"]
)


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def values_of(attribute: str) -> list:
    return [getattr(r, attribute) for r in RECORDS if getattr(r, attribute) is not None]


@st.composite
def conditions(draw) -> str:
    name = draw(st.sampled_from([n for n in ATTRIBUTES if FIELDS[n.lower()].filterable]))
    spec = FIELDS[name.lower()]
    if spec.type is FieldType.STRING:
        if draw(st.booleans()):
            function = draw(st.sampled_from(["contains", "startswith", "endswith"]))
            return f"{function}({name},{quoted(draw(ASCII_TEXT))})"
        # eq/ne only: string order depends on the database's collation
        literal = quoted(draw(st.one_of(ASCII_TEXT, st.sampled_from(values_of(ATTRIBUTES[name])))))
        return f"{name} {draw(st.sampled_from(['eq', 'ne']))} {literal}"
    if draw(st.integers(0, 7)) == 0:
        return f"{name} {draw(st.sampled_from(['eq', 'ne']))} null"
    ops = ["eq", "ne"] if spec.type is FieldType.BOOLEAN else ["eq", "ne", "lt", "le", "gt", "ge"]
    sample = draw(st.sampled_from(values_of(ATTRIBUTES[name])))
    if spec.type is FieldType.BOOLEAN:
        literal = "true" if sample else "false"
    elif spec.type is FieldType.DATETIME:
        shift = dt.timedelta(seconds=draw(st.sampled_from([-1, 0, 1, 3600])))
        literal = quoted((sample + shift).isoformat())
    elif spec.type is FieldType.DATE:
        literal = (sample + dt.timedelta(days=draw(st.sampled_from([-1, 0, 1])))).isoformat()
    else:
        literal = str(sample + draw(st.sampled_from([0, 1, -1])))
    return f"{name} {draw(st.sampled_from(ops))} {literal}"


FILTERS = st.recursive(
    conditions(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(" ".join),
        inner.map(lambda text: f"({text})"),
    ),
    max_leaves=6,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=FILTERS)
def test_databases_agree_with_the_reference_semantics(probe, text):
    node = parse_filter(text, FIELDS)
    expected = [r.id for r in RECORDS if reference(node, r)]
    assert ids(probe, text) == expected, text


EXTREMES = [
    ("SpacesLeft lt 9223372036854775807", [1, 2, 4, 5, 6, 7, 8, 10, 11, 12]),
    ("SpacesLeft gt -9223372036854775808", [1, 2, 4, 5, 6, 7, 8, 10, 11, 12]),
    ("Price lt 1e40", [1, 2, 4, 5, 6, 7, 8, 10, 11, 12]),
    ("Price gt -1e40 and Price ne 1e-40", [1, 2, 4, 5, 6, 7, 8, 10, 11, 12]),
    ("Score lt 9999999999999999999999.5", [1, 2, 4, 5, 6, 7, 8, 10, 11]),
    ("StartDate gt '0001-01-01T00:00:00'", [1, 2, 3, 5, 6, 7, 8, 10, 11, 12]),
    ("StartDate lt '9999-12-31T23:59:59.999999'", [1, 2, 3, 5, 6, 7, 8, 10, 11, 12]),
    (
        "StartDate lt '9999-12-31T23:59:59-05:00'",
        "StartDate: '9999-12-31T23:59:59-05:00' is out of range once converted to UTC; use a "
        "date-time between years 1 and 9999",
    ),
    ("Day gt 0001-01-01 and Day lt 9999-12-31", [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12]),
    ("Label eq 'Zürich ✓ 😀 中文'", []),
    ("contains(Label,'😀')", []),
    ("Label ne '" + "x" * 1900 + "'", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
]


def test_extreme_literals_run_on_both_databases(probe):
    """Values at the edges of every type reach the database without a database error."""
    wrong = []
    for text, expected in EXTREMES:
        try:
            got = ids(probe, text)
        except QueryError as exc:
            got = exc.errors[0].message
        if got != expected:
            wrong.append((text[:60], got, expected))
    assert wrong == []
