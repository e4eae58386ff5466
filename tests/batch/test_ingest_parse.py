"""The batch file rules of seeds 001/002, good and bad, without a database."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planfeed.ingest import BatchKind, ItemFacts, check_against_items, parse_batch
from planfeed.plans.statuses import Status

P, M = BatchKind.PROGRESS, BatchKind.METRIC
HEADER = "External ID,Status,Current Metric Value,As Of Date,Comment\n"


def parse(kind, text, **kwargs):
    return parse_batch(kind, text.encode("utf-8") if isinstance(text, str) else text, **kwargs)


def only_error(result):
    assert len(result.errors) == 1, result.errors
    return result.errors[0]


def test_header_optional_and_any_order():
    plain = parse(P, "A1,On Track,0.2,01/31/2025,ok\n")
    assert plain.ok
    assert not plain.has_header
    row = plain.rows[0]
    assert (row.external_id, row.status, row.metric_value, row.as_of, row.comment) == (
        "A1",
        Status.ON_TRACK,
        0.2,
        dt.date(2025, 1, 31),
        "ok",
    )
    shuffled = parse(P, " external id ,As Of Date,metric value,STATUS\nA1,2025-01-31,.2,on track\n")
    assert shuffled.ok, shuffled.errors
    assert shuffled.has_header
    assert shuffled.rows[0].metric_value == 0.2
    assert shuffled.rows[0].row == 2


def test_bom_crlf_quotes_and_final_newline():
    body = (
        "\ufeff"
        + HEADER.replace("\n", "\r\n")
        + 'A1,Achieved,,2025-01-31,"a, b ""quoted""\r\nsecond line"\r\n'
        + "A2,Canceled,1,2025-02-01,\r\n"
    )
    result = parse(P, body)
    assert result.ok, result.errors
    assert result.rows[0].comment == 'a, b "quoted"\r\nsecond line'
    assert result.rows[1].row == 3  # the quoted newline stays in its spreadsheet row


def test_metric_file():
    result = parse(M, "External ID,Metric Value,As Of Date\nX1,12.5,2025-01-31T10:00:00Z\n")
    assert result.ok
    assert result.rows[0].as_of == dt.date(2025, 1, 31)
    assert result.rows[0].status is None


@pytest.mark.parametrize(
    "text",
    [
        "2025-01-31",
        "20250131",
        "2025-W05-5",
        "2025-031",
        "2025-01-31T23:59:59+05:00",
        "01/31/2025",
        "1/31/2025",
        "01/31/2025 10:00",
    ],
)
def test_date_forms(text):
    result = parse(M, f"X1,1,{text}\n")
    assert result.ok, result.errors
    assert result.rows[0].as_of == dt.date(2025, 1, 31)


def test_every_bad_row_is_reported_with_its_row_number():
    body = HEADER + "A1,Ontrack,20%,31/01/2025,x\n\nA3,On Track,abc,2025-01-01,x\nA4,On Track\n"
    result = parse(P, body)
    assert not result.ok
    found = {(e.row, e.column) for e in result.errors}
    assert found == {
        (2, "Status"),
        (2, "Current Metric Value"),
        (2, "As Of Date"),
        (3, None),
        (4, "Current Metric Value"),
        (5, None),
    }
    by_place = {(e.row, e.column): e for e in result.errors}
    assert 'Did you mean "On Track"?' in by_place[(2, "Status")].message
    assert "write 0.2" in by_place[(2, "Current Metric Value")].message
    assert by_place[(2, "As Of Date")].value == "31/01/2025"
    assert "empty" in by_place[(3, None)].message
    assert "not a number" in by_place[(4, "Current Metric Value")].message
    assert "2 columns" in by_place[(5, None)].message
    assert result.total_rows == 4


def test_status_suggestion_for_british_spelling():
    error = only_error(parse(P, "A1,Cancelled,,2025-01-01\n"))
    assert 'Did you mean "Canceled"?' in error.message


def test_unknown_header_column_and_missing_column():
    result = parse(P, "External ID,Status,Value,As Of Date\nA1,On Track,1,2025-01-01\n")
    messages = " ".join(e.message for e in result.errors)
    assert "unknown column 'Value'" in messages
    assert "no 'Current Metric Value' column" in messages
    assert all(e.row == 1 for e in result.errors)


def test_wrong_column_count_without_header():
    error = only_error(parse(M, "X1,1\n"))
    assert "2 columns" in error.message
    assert "3 were expected" in error.message


@pytest.mark.parametrize("body", [b"", b"\n", b"\xef\xbb\xbf  \r\n"])
def test_empty_file(body):
    assert "empty" in only_error(parse(P, body)).message


def test_body_that_is_not_text():
    assert "not a text file" in only_error(parse(P, b"PK\x03\x04\x00\x00binary")).message
    assert "not UTF-8" in only_error(parse(P, b"A1,On Track,,2025-01-01,caf\xe9\n")).message


@pytest.mark.parametrize(
    "body", ["Path_To_File_On_Harddrive/my_updates.csv", "my_updates.csv", "C:\\data\\updates.csv"]
)
def test_curl_without_at_sign(body):
    error = only_error(parse(P, body))
    assert "looks like a file name" in error.message
    assert "--data-binary @" in error.message


def test_json_body():
    good = parse(
        P,
        '[{"externalId": "A1", "status": "at risk", "metricValue": 3, '
        '"asOfDate": "2025-01-31", "comment": "c"}]',
        content_type="application/json",
    )
    assert good.ok
    assert good.rows[0].status is Status.AT_RISK
    bad = parse(
        P, '[{"externalId": "A1", "colour": "red", "status": "x", "asOfDate": "2025-01-31"}, 7]'
    )
    assert {(e.row, e.column) for e in bad.errors} == {(1, "colour"), (2, None)}
    assert "not valid JSON" in only_error(parse(P, "[1,", content_type="application/json")).message
    assert "array" in only_error(parse(P, '{"a": 1}', content_type="application/json")).message


def test_row_limit():
    body = "".join(f"X{i},1,2025-01-01\n" for i in range(11))
    error = only_error(parse(M, body, max_rows=10))
    assert "more than 10 rows" in error.message


def test_external_id_rules():
    result = parse(M, "my external id,1,2025-01-01\n")
    assert "external" in only_error(result).message


def test_check_against_items():
    result = parse(
        P,
        "A1,On Track,,2025-01-01\nB2,On Track,,2025-01-01\nC3,On Track,,2025-01-01\n"
        "D4,On Track,1,2025-01-01\n",
    )
    errors = check_against_items(
        result,
        {
            "A1": ItemFacts(has_metric=True),
            "C3": ItemFacts(has_metric=False, writable=False),
            "D4": ItemFacts(has_metric=True),
        },
    )
    assert [(e.row, e.column) for e in errors] == [
        (1, "Current Metric Value"),
        (2, "External ID"),
        (3, "External ID"),
    ]
    assert "Export External IDs" in errors[1].message
    assert [row.external_id for row in result.rows] == ["D4"]


def test_a_metric_update_needs_an_item_with_a_metric():
    """A metric file row for an item without a metric is refused (it would set a value the
    item does not show); in a progress file the same value is history only."""
    facts = {"A1": ItemFacts(has_metric=False), "B2": ItemFacts(has_metric=True)}
    metric = parse(M, "A1,5,2025-01-01\nB2,6,2025-01-01\n")
    errors = check_against_items(metric, facts)
    assert [(e.row, e.column, e.value) for e in errors] == [(1, "External ID", "A1")]
    assert "has no metric" in errors[0].message
    assert "progress file" in errors[0].message
    assert [row.external_id for row in metric.rows] == ["B2"]
    progress = parse(P, "A1,On Track,5,2025-01-01\n")
    assert check_against_items(progress, facts) == []


def test_hundred_thousand_rows_parse():
    body = "".join(f"id-{i},On Track,{i}.5,2025-01-31,c\n" for i in range(100_000)).encode()
    result = parse_batch(P, body)
    assert result.ok
    assert len(result.rows) == 100_000


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300),
    st.sampled_from([P, M]),
    st.sampled_from([None, "application/json", "text/csv"]),
)
def test_never_raises_on_arbitrary_bytes(body, kind, content_type):
    result = parse_batch(kind, body, content_type)
    assert result.ok or result.errors


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.text(alphabet='ab,"\r\n %1/-.T:é', max_size=12), max_size=6), max_size=6)
)
def test_never_raises_on_csv_like_text(rows):
    body = "\n".join(",".join(cells) for cells in rows).encode()
    parse_batch(P, body)


def test_a_nul_character_in_a_comment_is_refused():
    """SQLite's JSON reader would cut a comment at a NUL, and PostgreSQL refuses it: say so."""
    body = HEADER + "A1,On Track,,2025-01-31,fine\n" * 1000 + "A2,On Track,,2025-01-31,a\x00b\n"
    error = only_error(parse(P, body))
    assert (error.row, error.column, error.value) == (1002, "Comment", "a\\0b")
    assert "NUL" in error.message


@pytest.mark.parametrize(
    ("body", "row"),
    [
        (
            b"External ID,Status,Current Metric Value,As Of Date\n"
            b"K1,On Track,,2025-01-01\nK2,On Track,,2025-01-01\n"
            b'K3,"On Track"x,,2025-01-01\nK4,On Track,,2025-01-01\n',
            4,
        ),
        (b'K1,On Track,,2025-01-01\nK2,"Achieved"!,,2025-01-01\n', 2),
    ],
)
def test_unreadable_csv_names_its_spreadsheet_row(body, row):
    result = parse_batch(BatchKind.PROGRESS, body)
    unreadable = [e for e in result.errors if "this row is not readable CSV" in e.message]
    assert [e.row for e in unreadable] == [row]
    assert not result.rows or all(r.row < row for r in result.rows)
