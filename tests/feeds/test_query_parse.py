"""The feeds query language without a database: seed 004's examples, every rule, every error."""

import datetime as dt
from decimal import Decimal

import pytest
from feeds_sample import (
    ACTIVE,
    COURSE_ID,
    DAY,
    EMAIL,
    FIELDS,
    LABEL,
    PRICE,
    REGION,
    SPACES_LEFT,
    SPECS,
    START_DATE,
    STATUS,
)

from planfeed.feeds import (
    MAX_FILTER_LENGTH,
    BoolOp,
    Comparison,
    OrderTerm,
    Query,
    QueryError,
    QueryErrorDetail,
    TextMatch,
    parse_filter,
    parse_orderby,
    parse_query,
    parse_select,
)

JAN1_10 = dt.datetime(2025, 1, 1, 10, 0, tzinfo=dt.UTC)


def errors(call, *args, **kwargs) -> list[dict]:
    with pytest.raises(QueryError) as caught:
        call(*args, **kwargs)
    return [detail.to_dict() for detail in caught.value.errors]


def only(call, *args, **kwargs) -> dict:
    found = errors(call, *args, **kwargs)
    assert len(found) == 1, found
    return found[0]


def filter_error(text: str) -> dict:
    return only(parse_filter, text, FIELDS)


# --------------------------------------------------------------------------- seed 004 verbatim


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CourseID eq 'FirAid'", Comparison(COURSE_ID, "eq", "FirAid", 0)),
        ("CourseID ne 'FirAid'", Comparison(COURSE_ID, "ne", "FirAid", 0)),
        ("StartDate lt '2025-01-01T10:00:00'", Comparison(START_DATE, "lt", JAN1_10, 0)),
        ("StartDate le '2025-01-01T10:00:00'", Comparison(START_DATE, "le", JAN1_10, 0)),
        ("StartDate gt '2025-01-01T10:00:00'", Comparison(START_DATE, "gt", JAN1_10, 0)),
        ("StartDate ge '2025-01-01T10:00:00'", Comparison(START_DATE, "ge", JAN1_10, 0)),
        ("contains(CourseID,'FirAid')", TextMatch(COURSE_ID, "contains", "FirAid", 0)),
        ("startswith(CourseID,'Fir')", TextMatch(COURSE_ID, "startswith", "Fir", 0)),
        ("endswith(CourseID,'aid')", TextMatch(COURSE_ID, "endswith", "aid", 0)),
        (
            "StartDate gt '2025-01-01T10:00:00' and status eq 'Available'",
            BoolOp(
                "and",
                (
                    Comparison(START_DATE, "gt", JAN1_10, 0),
                    Comparison(STATUS, "eq", "Available", 39),
                ),
            ),
        ),
        (
            "StartDate gt '2025-01-01T10:00:00' or status eq 'Available'",
            BoolOp(
                "or",
                (
                    Comparison(START_DATE, "gt", JAN1_10, 0),
                    Comparison(STATUS, "eq", "Available", 38),
                ),
            ),
        ),
        (
            "Email eq 'john.smith@my_company.com'",
            Comparison(EMAIL, "eq", "john.smith@my_company.com", 0),
        ),
    ],
)
def test_seed_filter_examples(text, expected):
    assert parse_filter(text, FIELDS) == expected


def test_seed_orderby_select_paging_and_count_examples():
    assert parse_orderby("startdate desc", FIELDS) == (OrderTerm(START_DATE, True),)
    assert parse_orderby("startdate desc,label asc", FIELDS) == (
        OrderTerm(START_DATE, True),
        OrderTerm(LABEL, False),
    )
    select = parse_select("label,startdate,status,spacesleft", FIELDS)
    assert [spec.name for spec in select] == ["Label", "StartDate", "Status", "SpacesLeft"]
    assert parse_query({"$top": "20"}, FIELDS).top == 20
    skipped = parse_query({"$skip": "1"}, FIELDS)
    assert (skipped.skip, skipped.top, skipped.offset) == (1, 50, 50)  # $skip is a page number
    assert parse_query({"$count": "true"}, FIELDS).count is True


def test_seed_upsert_example():
    query = parse_query(
        {"$upsert": "Email eq 'john.smith@my_company.com'"}, FIELDS, allow_upsert=True
    )
    assert query.upsert == Comparison(EMAIL, "eq", "john.smith@my_company.com", 0)
    assert query.filter is None


def test_defaults():
    assert parse_query({}, FIELDS) == Query(
        filter=None, orderby=(), select=None, top=50, skip=0, count=False, upsert=None
    )
    assert parse_query({}, FIELDS, default_top=20, max_top=10).top == 10


# --------------------------------------------------------------------------- grammar


def test_case_insensitive_keywords_fields_and_functions():
    node = parse_filter(
        "STARTDATE GT '2025-01-01T10:00:00' AND CONTAINS ( courseid , 'x' ) Or Status Eq NULL",
        FIELDS,
    )
    assert node == BoolOp(
        "or",
        (
            BoolOp(
                "and",
                (
                    Comparison(START_DATE, "gt", JAN1_10, 0),
                    TextMatch(COURSE_ID, "contains", "x", 39),
                ),
            ),
            Comparison(STATUS, "eq", None, 70),
        ),
    )


def test_and_binds_tighter_than_or():
    node = parse_filter("Label eq 'a' or Label eq 'b' and Status eq 'c' or Label eq 'd'", FIELDS)
    assert isinstance(node, BoolOp)
    assert node.op == "or"
    assert [type(o).__name__ for o in node.operands] == ["Comparison", "BoolOp", "Comparison"]
    middle = node.operands[1]
    assert isinstance(middle, BoolOp)
    assert middle.op == "and"
    assert [o.value for o in middle.operands] == ["b", "c"]


def test_parentheses_group_and_chains_flatten():
    node = parse_filter("(Label eq 'a' or Label eq 'b') and Status eq 'c'", FIELDS)
    assert isinstance(node, BoolOp)
    assert node.op == "and"
    assert isinstance(node.operands[0], BoolOp)
    assert node.operands[0].op == "or"
    flat = parse_filter("Label eq 'a' and (Label eq 'b' and Label eq 'c') and Label eq 'd'", FIELDS)
    assert isinstance(flat, BoolOp)
    assert [o.value for o in flat.operands] == ["a", "b", "c", "d"]
    assert parse_filter("((Label eq 'a'))", FIELDS) == Comparison(LABEL, "eq", "a", 2)


def test_whitespace_is_free_between_tokens():
    assert parse_filter("  Label\teq\n'a'  ", FIELDS) == Comparison(LABEL, "eq", "a", 2)
    assert parse_filter("contains(Label,'a')and(Label eq'b')", FIELDS) == BoolOp(
        "and", (TextMatch(LABEL, "contains", "a", 0), Comparison(LABEL, "eq", "b", 23))
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Label eq 'O''Neil'", "O'Neil"),
        ("Label eq ''''", "'"),
        ("Label eq ''", ""),
        ("Label eq '100% _x_ \\ \"q\"'", '100% _x_ \\ "q"'),
        ("Label eq 'and or eq ( ) ,'", "and or eq ( ) ,"),
        ("Label eq 'Zürich ✓'", "Zürich ✓"),
    ],
)
def test_string_literals(text, value):
    assert parse_filter(text, FIELDS) == Comparison(LABEL, "eq", value, 0)


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("SpacesLeft eq 5", SPACES_LEFT, 5),
        ("SpacesLeft eq '5'", SPACES_LEFT, 5),
        ("SpacesLeft gt -3", SPACES_LEFT, -3),
        ("SpacesLeft eq 5.0", SPACES_LEFT, 5),
        ("Price le 12.50", PRICE, Decimal("12.50")),
        ("Price le -0.5", PRICE, Decimal("-0.5")),
        ("Price eq '7'", PRICE, Decimal(7)),
        ("Price lt 1e3", PRICE, Decimal(1000)),
        ("Active eq true", ACTIVE, True),
        ("Active eq FALSE", ACTIVE, False),
        ("Active ne 'True'", ACTIVE, True),
        ("Day eq '2025-01-31'", DAY, dt.date(2025, 1, 31)),
        ("Day eq 2025-01-31", DAY, dt.date(2025, 1, 31)),
        ("Day eq '2025-01-31T00:00:00'", DAY, dt.date(2025, 1, 31)),
        ("StartDate eq '2025-01-01'", START_DATE, dt.datetime(2025, 1, 1, tzinfo=dt.UTC)),
        ("StartDate eq '2025-01-01T10:00:00Z'", START_DATE, JAN1_10),
        ("StartDate eq '2025-01-01T11:00:00+01:00'", START_DATE, JAN1_10),
        ("StartDate eq 2025-01-01T10:00:00Z", START_DATE, JAN1_10),
        ("StartDate eq '2025-01-01T10:00:00.250'", START_DATE, JAN1_10.replace(microsecond=250000)),
        ("CF_Region eq null", REGION, None),
        ("cf_region ne NULL", REGION, None),
    ],
)
def test_literal_forms_are_coerced_to_the_field_type(text, field, value):
    node = parse_filter(text, FIELDS)
    assert isinstance(node, Comparison)
    assert node.field == field
    assert node.value == value
    assert type(node.value) is type(value)
    if isinstance(value, dt.datetime):
        assert node.value.tzinfo is not None
        assert node.value.utcoffset() == dt.timedelta(0)


def test_lookup_keys_in_any_case_are_accepted():
    canonical = {spec.name: spec for spec in SPECS}
    assert parse_filter("startdate gt '2025-01-01T10:00:00'", canonical) == Comparison(
        START_DATE, "gt", JAN1_10, 0
    )
    assert parse_orderby("LABEL", canonical) == (OrderTerm(LABEL, False),)
    assert parse_select("label", canonical) == (LABEL,)
    assert parse_query({"$select": "Label"}, canonical).select == (LABEL,)


def test_orderby_forms():
    assert parse_orderby("Label", FIELDS) == (OrderTerm(LABEL, False),)
    assert parse_orderby(" label  ASC , StartDate DESC ,SpacesLeft", FIELDS) == (
        OrderTerm(LABEL, False),
        OrderTerm(START_DATE, True),
        OrderTerm(SPACES_LEFT, False),
    )


def test_select_forms():
    assert parse_select(" label , STATUS,label ,Status", FIELDS) == (LABEL, STATUS)
    assert parse_select("*", FIELDS) == SPECS


def test_query_option_names_are_case_insensitive_and_others_ignored():
    query = parse_query(
        {
            "$Filter": "Label eq 'a'",
            "$ORDERBY": "label desc",
            "$Select": "label",
            "$TOP": "5",
            "$Skip": "2",
            "$Count": "TRUE",
            "api_key": "whatever",
            "page": "x",
        },
        FIELDS,
    )
    assert query == Query(
        filter=Comparison(LABEL, "eq", "a", 0),
        orderby=(OrderTerm(LABEL, True),),
        select=(LABEL,),
        top=5,
        skip=2,
        count=True,
        upsert=None,
    )
    assert query.offset == 10


def test_paging_boundaries():
    assert parse_query({"$top": "1000", "$skip": "0"}, FIELDS).top == 1000
    assert parse_query({"$top": " 7 ", "$count": " false "}, FIELDS).top == 7
    assert parse_query({"$top": "1"}, FIELDS, max_top=1).top == 1
    assert parse_query({"$skip": "1000000000"}, FIELDS).skip == 1_000_000_000


def test_repeated_options_are_seen_in_query_params_and_pairs():
    from starlette.datastructures import QueryParams

    params = QueryParams("$filter=Label eq 'a'&$filter=Label eq 'b'&$top=3")
    assert only(parse_query, params, FIELDS) == {
        "option": "$filter",
        "message": "$filter is given more than once; give it once (join conditions with and/or)",
    }
    pairs = [("$top", "3"), ("$TOP", "4")]
    assert only(parse_query, pairs, FIELDS) == {
        "option": "$TOP",
        "message": "$top is given more than once; give it once",
    }
    assert only(parse_query, {"$top": "3", "$Top": "4"}, FIELDS)["option"] == "$Top"


# --------------------------------------------------------------------------- $filter errors


def test_unbalanced_quote_points_at_the_opening_quote():
    assert filter_error("Label eq 'abc") == {
        "option": "$filter",
        "position": 9,
        "message": "the quote opened here is never closed; end the text with ' (write '' "
        "for a quote inside the text, as in 'O''Neil')",
    }
    assert filter_error("Label eq 'it''s")["position"] == 9
    assert filter_error("contains(Label,'x)")["position"] == 15


def test_double_quotes_say_to_use_single_quotes():
    assert filter_error('Label eq "abc"') == {
        "option": "$filter",
        "position": 9,
        "message": "text goes in single quotes, not double quotes: write 'abc'",
    }


@pytest.mark.parametrize(
    ("text", "position", "word"),
    [
        ("Label eq 'a' and", 13, "and"),
        ("Label eq 'a' OR", 13, "OR"),
        ("Label eq 'a' and or Label eq 'b'", 13, "and"),
        ("(Label eq 'a' and) or Label eq 'b'", 14, "and"),
    ],
)
def test_dangling_and_or(text, position, word):
    assert filter_error(text) == {
        "option": "$filter",
        "position": position,
        "message": f"'{word}' has no condition after it; add one (e.g. CourseID eq 'FirAid') "
        f"or remove the '{word}'",
    }


def test_leading_and_or():
    assert filter_error("or Label eq 'a'") == {
        "option": "$filter",
        "position": 0,
        "message": "'or' needs a condition before it, e.g. CourseID eq 'FirAid' or status eq "
        "'Available'",
    }
    assert filter_error("(and Label eq 'a')")["position"] == 1


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        (
            "Label equals 'a'",
            6,
            "unknown operator 'equals'; use one of eq, ne, lt, le, gt, ge",
        ),
        (
            "Label = 'a'",
            6,
            "unknown operator '='; write eq instead (use one of eq, ne, lt, le, gt, ge, "
            "and/or to join)",
        ),
        (
            "SpacesLeft >= 3",
            11,
            "unknown operator '>='; write ge instead (use one of eq, ne, lt, le, gt, ge, "
            "and/or to join)",
        ),
        (
            "Label ~ 'a'",
            6,
            "unknown operator '~' (use one of eq, ne, lt, le, gt, ge, and/or to join)",
        ),
        (
            "Label 'a'",
            6,
            "expected an operator after Label, found 'a'; use one of eq, ne, lt, le, gt, ge",
        ),
        (
            "Label contains 'a'",
            6,
            "contains is a function; write contains(Label,'text')",
        ),
    ],
)
def test_unknown_operator(text, position, message):
    assert filter_error(text) == {
        "option": "$filter",
        "position": position,
        "field": "Label" if text.startswith("Label") else "SpacesLeft",
        "message": message,
    }


def test_symbol_joiners_hint_and_or():
    assert filter_error("Label eq 'a' && Label eq 'b'") == {
        "option": "$filter",
        "position": 13,
        "message": "unknown operator '&&'; join conditions with 'and' instead",
    }
    assert filter_error("Label eq 'a' || Label eq 'b'")["message"] == (
        "unknown operator '||'; join conditions with 'or' instead"
    )


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        (
            "Label eq",
            8,
            "'eq' has no value after it; write e.g. Label eq 'value' (text in single quotes, "
            "numbers, true, false or null)",
        ),
        (
            "Label eq and Status eq 'a'",
            9,
            "'eq' has no value after it; write e.g. Label eq 'value' (text in single quotes, "
            "numbers, true, false or null)",
        ),
        (
            "(Label ne)",
            9,
            "'ne' has no value after it; write e.g. Label ne 'value' (text in single quotes, "
            "numbers, true, false or null)",
        ),
        (
            "Label",
            5,
            "an operator and a value are missing after Label; e.g. Label eq 'value' (use one "
            "of eq, ne, lt, le, gt, ge)",
        ),
        (
            "Label eq Available",
            9,
            "'Available' is not a value; put text in single quotes: Label eq 'Available'",
        ),
        (
            "Label eq Status",
            9,
            "comparing two fields is not supported; compare Label with a value: 'text', 42, "
            "12.5, true, false or null",
        ),
    ],
)
def test_missing_or_bad_operand(text, position, message):
    assert filter_error(text) == {
        "option": "$filter",
        "position": position,
        "field": "Label",
        "message": message,
    }


def test_condition_must_start_with_a_field():
    assert filter_error("'FirAid' eq CourseID") == {
        "option": "$filter",
        "position": 0,
        "message": "a condition starts with a field name, not a value (found 'FirAid'); "
        "write e.g. CourseID eq 'FirAid'",
    }
    assert filter_error("eq 'x'") == {
        "option": "$filter",
        "position": 0,
        "message": "'eq' needs a field name before it, e.g. CourseID eq 'FirAid'",
    }
    assert filter_error("not Label eq 'a'")["message"].startswith("'not' is not supported")


def test_unbalanced_parentheses():
    assert filter_error("(Label eq 'a'") == {
        "option": "$filter",
        "position": 0,
        "message": "this '(' is never closed; add a ')' after the grouped conditions",
    }
    assert filter_error("Label eq 'a' and ((Status eq 'b')")["position"] == 17
    assert filter_error("Label eq 'a')") == {
        "option": "$filter",
        "position": 12,
        "message": "this ')' has no matching '('; remove it or add a '('",
    }
    assert filter_error("(Label eq 'a' Status eq 'b')") == {
        "option": "$filter",
        "position": 14,
        "message": "expected 'and', 'or' or ')' here, found 'Status' (the '(' at position 0 "
        "is still open)",
    }
    assert filter_error("()") == {
        "option": "$filter",
        "position": 0,
        "message": "the parentheses are empty; put a condition inside, e.g. (CourseID eq 'FirAid')",
    }
    assert filter_error(")")["position"] == 0


def test_trailing_garbage():
    assert filter_error("Label eq 'a' Status eq 'b'") == {
        "option": "$filter",
        "position": 13,
        "message": "unexpected 'Status' after a complete condition; join conditions with "
        "'and' or 'or'",
    }
    assert filter_error("Label eq 'a' 'b'")["position"] == 13
    assert filter_error("Label eq 'a',")["position"] == 12


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_expression(text):
    assert filter_error(text) == {
        "option": "$filter",
        "position": 0,
        "message": "the expression is empty; write a condition such as CourseID eq 'FirAid'",
    }


def test_unexpected_characters_and_bare_words():
    assert filter_error("Label eq 'a' ; drop table x") == {
        "option": "$filter",
        "position": 13,
        "message": "unexpected character ';'; a condition is a field, an operator and a value, "
        "e.g. CourseID eq 'FirAid', or contains(CourseID,'Fir'), joined with and/or",
    }
    assert filter_error("SpacesLeft eq 5abc") == {
        "option": "$filter",
        "position": 14,
        "message": "'5abc' is neither a number nor a quoted value; put text, dates and "
        "date-times in single quotes, e.g. '5abc'",
    }
    assert filter_error("Day eq 2025-13")["position"] == 7


def test_unknown_field_suggests_a_close_name():
    assert filter_error("StartDat gt '2025-01-01'") == {
        "option": "$filter",
        "position": 0,
        "field": "StartDat",
        "message": "unknown field 'StartDat'; did you mean StartDate?",
    }
    far = filter_error("Zzz eq 1")
    assert far["field"] == "Zzz"
    assert far["message"].startswith("unknown field 'Zzz'; known fields: CourseID, Label, ")


def test_field_not_filterable():
    assert filter_error("Notes eq 'x'") == {
        "option": "$filter",
        "position": 0,
        "field": "Notes",
        "message": "the field Notes cannot be used in $filter; filterable fields: CourseID, "
        "Label, Status, Email, StartDate, Day, SpacesLeft, Price, Active, CF_Region, Score",
    }
    assert filter_error("contains(notes,'x')")["field"] == "notes"


def test_text_functions_need_text_fields_and_quoted_text():
    assert filter_error("contains(StartDate,'2025')") == {
        "option": "$filter",
        "position": 9,
        "field": "StartDate",
        "message": "contains() works on text fields only; StartDate is a datetime field "
        "(compare it with eq, ne, lt, le, gt or ge instead)",
    }
    assert filter_error("startswith(Label,5)") == {
        "option": "$filter",
        "position": 17,
        "field": "Label",
        "message": "the text to look for must be in single quotes (found '5'); write "
        "startswith(Field,'text'), e.g. startswith(CourseID,'Fir')",
    }
    assert filter_error("endswith(Label)") == {
        "option": "$filter",
        "position": 14,
        "field": "Label",
        "message": "expected ',' after the field name in endswith(), found ')'; write "
        "endswith(Field,'text'), e.g. endswith(CourseID,'Fir')",
    }
    assert filter_error("contains('x',Label)")["message"].startswith(
        "contains() needs a field name first, found 'x'"
    )
    assert filter_error("contains(Label,)")["position"] == 15
    assert filter_error("contains(Label,'a'") == {
        "option": "$filter",
        "position": 8,
        "message": "the '(' of contains() is never closed; add a ')' after the text",
    }
    assert filter_error("contains(Label,'a','b')")["position"] == 18
    assert filter_error("substringof('a',Label)") == {
        "option": "$filter",
        "position": 0,
        "message": "unknown function 'substringof'; use contains, startswith or endswith, "
        "e.g. contains(CourseID,'Fir')",
    }


@pytest.mark.parametrize(
    ("text", "position", "field", "message"),
    [
        (
            "StartDate gt 'tomorrow'",
            13,
            "StartDate",
            "StartDate: 'tomorrow' is not a date-time; write it as '2025-01-01T10:00:00' "
            "(UTC unless it ends with Z or an offset such as +01:00)",
        ),
        (
            "Day eq '31/01/2025'",
            7,
            "Day",
            "Day: '31/01/2025' is not a date; write it as '2025-01-01'",
        ),
        (
            "Day eq '2025-01-31T10:00:00'",
            7,
            "Day",
            "Day: '2025-01-31T10:00:00' is not a date; write it as '2025-01-01'",
        ),
        (
            "SpacesLeft eq 5.5",
            14,
            "SpacesLeft",
            "SpacesLeft: 5.5 is not a whole number; write it as e.g. 42",
        ),
        (
            "spacesleft eq 'x'",
            14,
            "spacesleft",
            "SpacesLeft: 'x' is not a whole number; write it as e.g. 42",
        ),
        (
            "SpacesLeft eq true",
            14,
            "SpacesLeft",
            "SpacesLeft: true is not a whole number; write it as e.g. 42",
        ),
        (
            "SpacesLeft eq 99999999999999999999",
            14,
            "SpacesLeft",
            "SpacesLeft: 99999999999999999999 is out of range; whole numbers lie between "
            "-9223372036854775808 and 9223372036854775807",
        ),
        ("Price gt 'cheap'", 9, "Price", "Price: 'cheap' is not a number; write it as e.g. 12.5"),
        (
            "Price gt 1e999",
            9,
            "Price",
            "Price: 1E+999 is out of range; numbers must lie between 1e-40 and 1e40 in size "
            "(or be 0)",
        ),
        ("Active eq 'yes'", 10, "Active", "Active: 'yes' is not a boolean; write true or false"),
        (
            "Active gt true",
            10,
            "Active",
            "Active is a boolean field; compare it with eq or ne, not gt",
        ),
        ("Label eq 5", 9, "Label", "Label: 5 is not text; write text in single quotes, e.g. 'abc'"),
        (
            "Label eq true",
            9,
            "Label",
            "Label: true is not text; write text in single quotes, e.g. 'abc'",
        ),
        (
            "Label eq 2025-01-01",
            9,
            "Label",
            "Label is a string field; put text in single quotes: '2025-01-01'",
        ),
        (
            "StartDate lt null",
            13,
            "StartDate",
            "null can only be compared with eq or ne (not lt); write StartDate eq null or "
            "StartDate ne null",
        ),
        (
            "Label eq 'a\x00b'",
            9,
            "Label",
            "Label: 'a\x00b' contains a NUL character or an invalid (surrogate) character, which "
            "no field can hold; remove it",
        ),
    ],
)
def test_literal_misfits_name_the_field_the_literal_and_the_form(text, position, field, message):
    assert filter_error(text) == {
        "option": "$filter",
        "position": position,
        "field": field,
        "message": message,
    }


def test_all_field_and_value_problems_are_collected():
    found = errors(
        parse_filter,
        "Labl eq 'a' and StartDate gt 'x' or (Active lt true and contains(Price,'1'))",
        FIELDS,
    )
    assert [(e["position"], e["field"]) for e in found] == [
        (0, "Labl"),
        (29, "StartDate"),
        (47, "Active"),
        (65, "Price"),
    ]


def test_length_limit():
    padding = MAX_FILTER_LENGTH - len("Label eq ''")
    exactly = "Label eq '" + "x" * padding + "'"
    assert len(exactly) == MAX_FILTER_LENGTH
    assert isinstance(parse_filter(exactly, FIELDS), Comparison)
    assert filter_error(exactly + " ") == {
        "option": "$filter",
        "position": 2000,
        "message": "the expression is 2001 characters long; at most 2000 are allowed, so split "
        "the request or simplify the expression",
    }


def test_node_limit_counts_conditions_and_joins():
    fifty = " or ".join(f"SpacesLeft eq {i}" for i in range(50))  # 50 conditions + 49 'or' = 99
    node = parse_filter(fifty, FIELDS)
    assert isinstance(node, BoolOp)
    assert len(node.operands) == 50
    fifty_one = fifty + " or SpacesLeft eq 50"  # 101 nodes
    error = filter_error(fifty_one)
    assert error["message"] == (
        "the expression has more than 100 nodes (each condition and each and/or counts as one); "
        "split the request or simplify the expression"
    )
    assert error["position"] == fifty_one.rindex("SpacesLeft")
    grouped = "(" + fifty + ") and contains(Label,'x')"  # 50 + 49 + 1 + 1 = 101
    assert filter_error(grouped)["position"] == grouped.rindex("contains")


def test_nesting_limit():
    nested = "(" * 20 + "Label eq 'a'" + ")" * 20
    assert isinstance(parse_filter(nested, FIELDS), Comparison)
    too_deep = "(" + nested + ")"
    assert filter_error(too_deep) == {
        "option": "$filter",
        "position": 20,
        "message": "parentheses are nested more than 20 deep; simplify the expression",
    }


def test_upsert_errors_name_the_upsert_option():
    assert only(parse_query, {"$upsert": "Email eq"}, FIELDS, allow_upsert=True) == {
        "option": "$upsert",
        "position": 8,
        "field": "Email",
        "message": "'eq' has no value after it; write e.g. Email eq 'value' (text in single "
        "quotes, numbers, true, false or null)",
    }
    assert only(parse_query, {"$UPSERT": "Email eq 'x'"}, FIELDS) == {
        "option": "$UPSERT",
        "message": "$upsert is only accepted when creating a record (POST to the module); use "
        "$filter to read",
    }


# --------------------------------------------------------------------------- other options


def test_orderby_errors():
    assert only(parse_orderby, "startdate descending", FIELDS) == {
        "option": "$orderby",
        "position": 10,
        "field": "startdate",
        "message": "unknown sort direction 'descending'; write asc or desc (or nothing, which "
        "means asc)",
    }
    assert only(parse_orderby, "startdate desc,", FIELDS) == {
        "option": "$orderby",
        "position": 15,
        "message": "an entry is empty here; write a field name, optionally followed by asc or "
        "desc between the commas, e.g. startdate desc,label asc",
    }
    assert only(parse_orderby, ",label", FIELDS)["position"] == 0
    assert only(parse_orderby, "", FIELDS) == {
        "option": "$orderby",
        "position": 0,
        "message": "the value is empty; write a field name, optionally followed by asc or "
        "desc, comma-separated, e.g. startdate desc,label asc",
    }
    assert only(parse_orderby, "label desc asc", FIELDS) == {
        "option": "$orderby",
        "position": 11,
        "field": "label",
        "message": "expected ',' or the end after the sort direction, found 'asc'; separate "
        "entries with commas, e.g. startdate desc,label asc",
    }
    assert only(parse_orderby, "label;status", FIELDS)["position"] == 5
    assert only(parse_orderby, "'label'", FIELDS)["message"].startswith(
        "expected a field name, optionally followed by asc or desc, found 'label'"
    )
    assert only(parse_orderby, "notes", FIELDS) == {
        "option": "$orderby",
        "position": 0,
        "field": "notes",
        "message": "the field Notes cannot be sorted on; sortable fields: CourseID, Label, "
        "Status, Email, StartDate, Day, SpacesLeft, Price, Active, CF_Region",
    }
    assert only(parse_orderby, "label,Label desc", FIELDS) == {
        "option": "$orderby",
        "position": 6,
        "field": "Label",
        "message": "Label appears twice in $orderby (first at position 0); list each field once",
    }
    both = errors(parse_orderby, "labl, startdat desc", FIELDS)
    assert [(e["position"], e["field"]) for e in both] == [(0, "labl"), (6, "startdat")]
    assert both[1]["message"] == "unknown field 'startdat'; did you mean StartDate?"


def test_select_errors():
    assert only(parse_select, "label,,status", FIELDS) == {
        "option": "$select",
        "position": 6,
        "message": "an entry is empty here; write a field name between the commas, e.g. "
        "label,startdate,status",
    }
    assert only(parse_select, "label,", FIELDS)["position"] == 6
    assert only(parse_select, " ", FIELDS)["message"].startswith("the value is empty")
    assert only(parse_select, "label status", FIELDS) == {
        "option": "$select",
        "position": 6,
        "field": "label",
        "message": "expected ',' or the end after label, found 'status'; separate entries with "
        "commas, e.g. label,startdate,status",
    }
    assert only(parse_select, "label,spaceleft", FIELDS) == {
        "option": "$select",
        "position": 6,
        "field": "spaceleft",
        "message": "unknown field 'spaceleft'; did you mean SpacesLeft?",
    }
    assert only(parse_select, "label,*", FIELDS)["position"] == 6


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"$top": "0"},
            {
                "option": "$top",
                "position": 0,
                "message": "0 is out of range; $top is the page size, a whole number from 1 to "
                "1000",
            },
        ),
        (
            {"$top": "1001"},
            {
                "option": "$top",
                "position": 0,
                "message": "1001 is out of range; $top is the page size, a whole number from 1 "
                "to 1000",
            },
        ),
        (
            {"$top": "ten"},
            {
                "option": "$top",
                "position": 0,
                "message": "'ten' is not a whole number; $top is the page size, a whole number "
                "from 1 to 1000",
            },
        ),
        (
            {"$top": ""},
            {
                "option": "$top",
                "position": 0,
                "message": "the value is empty; $top is the page size, a whole number from 1 to "
                "1000",
            },
        ),
        (
            {"$top": "2.5"},
            {
                "option": "$top",
                "position": 0,
                "message": "'2.5' is not a whole number; $top is the page size, a whole number "
                "from 1 to 1000",
            },
        ),
        (
            {"$skip": "-1"},
            {
                "option": "$skip",
                "position": 0,
                "message": "-1 is out of range; $skip is the page number, starting at 0, a "
                "whole number from 0 to 1000000000",
            },
        ),
        (
            {"$skip": "9" * 5000},
            {
                "option": "$skip",
                "position": 0,
                "message": "'" + "9" * 40 + "…' is not a whole number; $skip is the page "
                "number, starting at 0, a whole number from 0 to 1000000000",
            },
        ),
        (
            {"$count": "yes"},
            {
                "option": "$count",
                "position": 0,
                "message": "'yes' is not allowed; write true or false",
            },
        ),
        (
            {"$count": ""},
            {
                "option": "$count",
                "position": 0,
                "message": "'' is not allowed; write true or false",
            },
        ),
        (
            {"$expand": "Course"},
            {
                "option": "$expand",
                "message": "unknown option $expand; supported: $filter, $orderby, $select, "
                "$top, $skip, $count",
            },
        ),
        (
            {"$filtre": "Label eq 'a'"},
            {
                "option": "$filtre",
                "message": "unknown option $filtre; did you mean $filter? supported: $filter, "
                "$orderby, $select, $top, $skip, $count",
            },
        ),
    ],
)
def test_paging_count_and_unknown_option_errors(params, expected):
    assert only(parse_query, params, FIELDS) == expected


def test_small_max_top_is_named():
    assert only(parse_query, {"$top": "51"}, FIELDS, max_top=50)["message"] == (
        "51 is out of range; $top is the page size, a whole number from 1 to 50"
    )


def test_every_option_error_is_collected_in_one_query_error():
    with pytest.raises(QueryError) as caught:
        parse_query(
            {
                "$filter": "Labl eq 'a'",
                "$orderby": "label sideways",
                "$select": "label,,",
                "$top": "0",
                "$skip": "x",
                "$count": "maybe",
                "$format": "json",
            },
            FIELDS,
        )
    options = [detail.option for detail in caught.value.errors]
    assert options == ["$format", "$filter", "$orderby", "$select", "$top", "$skip", "$count"]
    body = caught.value.to_body()
    assert body["error"] == "invalid_query"
    assert body["errors"][1] == {
        "option": "$filter",
        "position": 0,
        "field": "Labl",
        "message": "unknown field 'Labl'; did you mean Label?",
    }
    assert body["message"].startswith(
        "$format: unknown option $format; supported: $filter, $orderby, $select, $top, "
        "$skip, $count; $filter (position 0): unknown field 'Labl'; did you mean Label?; "
    )


def test_error_detail_omits_missing_members():
    assert QueryErrorDetail("$top", "bad").to_dict() == {"option": "$top", "message": "bad"}
    assert QueryErrorDetail("$filter", "bad", 0, "X").to_dict() == {
        "option": "$filter",
        "position": 0,
        "field": "X",
        "message": "bad",
    }
    with pytest.raises(ValueError, match="at least one"):
        QueryError([])
