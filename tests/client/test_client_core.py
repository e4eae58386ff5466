"""The client's pure parts: the F filter builder, batch bodies, backoff, Retry-After, feed
query parameters. No I/O here; everything that talks HTTP is tested against a real server."""

from __future__ import annotations

import datetime as dt
import enum
import json
import random
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from planfeed.client import ConfigurationError, EnvironmentMismatch, F, MetricRow, ProgressRow
from planfeed.client._core import (
    ClientCore,
    FeedQuery,
    RetryPolicy,
    batch_body,
    key_environment,
    retry_after_seconds,
)
from planfeed.client.filters import Raw, literal


class Colour(enum.Enum):
    RED = "Red"


def test_f_comparisons_and_literals():
    assert str(F.Status == "Available") == "Status eq 'Available'"
    assert str(F.Status != "Full") == "Status ne 'Full'"
    assert str(F.SpacesLeft > 0) == "SpacesLeft gt 0"
    assert str(F.SpacesLeft >= 2) == "SpacesLeft ge 2"
    assert str(F.Price < Decimal("9.50")) == "Price lt 9.50"
    assert str(F.Price <= 9.5) == "Price le 9.5"
    assert str(F.StartDate > dt.datetime(2025, 1, 1, 10)) == "StartDate gt '2025-01-01T10:00:00'"
    assert str(F.StartDate < dt.date(2025, 1, 31)) == "StartDate lt '2025-01-31'"
    aware = dt.datetime(2025, 1, 1, 10, tzinfo=dt.UTC)
    assert str(F.StartDate == aware) == "StartDate eq '2025-01-01T10:00:00+00:00'"
    assert str(F.Cancelled == False) == "Cancelled eq false"  # noqa: E712
    assert str(F.Trainer == None) == "Trainer eq null"  # noqa: E711
    assert str(F.Trainer != None) == "Trainer ne null"  # noqa: E711
    assert str(F.Colour == Colour.RED) == "Colour eq 'Red'"
    assert str(F["CF_Region"] == "North") == "CF_Region eq 'North'"


def test_f_quotes_are_doubled():
    assert str(F.Surname == "O'Neil") == "Surname eq 'O''Neil'"
    assert str(F.Label == "''") == "Label eq ''''''"
    assert str(F.CourseID.contains("it's")) == "contains(CourseID,'it''s')"
    assert str(F.CourseID.startswith("Fir")) == "startswith(CourseID,'Fir')"
    assert str(F.CourseID.endswith("aid")) == "endswith(CourseID,'aid')"


def test_f_combinators_add_parentheses_only_where_needed():
    a, b, c = F.A == 1, F.B == 2, F.C == 3
    assert str(a & b) == "A eq 1 and B eq 2"
    assert str(a | b) == "A eq 1 or B eq 2"
    assert str(a & b & c) == "A eq 1 and B eq 2 and C eq 3"
    assert str(a | b | c) == "A eq 1 or B eq 2 or C eq 3"
    assert str(a & b | c) == "A eq 1 and B eq 2 or C eq 3"  # and binds tighter
    assert str(a | b & c) == "A eq 1 or B eq 2 and C eq 3"
    assert str((a | b) & c) == "(A eq 1 or B eq 2) and C eq 3"
    assert str(a & (b | c)) == "A eq 1 and (B eq 2 or C eq 3)"
    assert str((a | b) & (b | c)) == "(A eq 1 or B eq 2) and (B eq 2 or C eq 3)"
    assert str((a & b) | (b & c)) == "A eq 1 and B eq 2 or B eq 2 and C eq 3"
    assert str(F.X.isin(["a", "b"]) & c) == "(X eq 'a' or X eq 'b') and C eq 3"
    assert str(F.X.isin(["a"])) == "X eq 'a'"
    assert str(Raw("A eq 1 or B eq 2") & c) == "(A eq 1 or B eq 2) and C eq 3"


def test_f_refuses_misuse():
    with pytest.raises(TypeError, match=r"combine filters with & and \|"):
        _ = (F.A == 1) and (F.B == 2)
    with pytest.raises(TypeError, match="no truth value"):
        bool(1 < F.A < 3)
    with pytest.raises(ValueError, match="not a field name"):
        _ = F["Status eq 'x' or 1"]
    with pytest.raises(TypeError, match="cannot use a list"):
        str(F.A == [1])
    with pytest.raises(ValueError, match="cannot be written"):
        literal(float("nan"))
    with pytest.raises(ValueError, match="at least one"):
        F.A.isin([])


@given(st.text())
def test_string_literals_round_trip(text):
    """Whatever the text, the literal is one quoted token that un-doubles to the text."""
    rendered = literal(text)
    assert rendered.startswith("'")
    assert rendered.endswith("'")
    inner = rendered[1:-1]
    assert "'" not in inner.replace("''", "")
    assert inner.replace("''", "'") == text


def test_feed_query_parameters():
    query = FeedQuery("coursedate", page_size=50)
    query = query.with_filter(F.Status == "Available").with_filter("SpacesLeft gt 0")
    query = FeedQuery(
        query.module,
        query.filters,
        fields=("Label", "StartDate"),
        order=("StartDate desc", "Label"),
        page_size=50,
    )
    assert query.params(2) == {
        "$top": "50",
        "$skip": "2",  # a page number in API v2
        "$filter": "Status eq 'Available' and (SpacesLeft gt 0)",
        "$select": "Label,StartDate",
        "$orderby": "StartDate desc,Label",
    }
    assert FeedQuery("user").params(0) == {"$top": "100", "$skip": "0"}


def test_batch_body_from_rows():
    @dataclass
    class Custom:
        external_id: str
        metric_value: Decimal
        as_of: dt.datetime

    body = batch_body(
        [
            ProgressRow("A", "On Track", dt.date(2025, 1, 31), 0.2, "ok"),
            {"External ID": "B", "STATUS": "At Risk", "As-Of-Date": "2025-02-01", "x": 1},
            MetricRow("C", Decimal("1.50"), "2025-02-02"),
            Custom("D", Decimal("2"), dt.datetime(2025, 2, 3, 17, 30)),
        ],
        None,
    )
    assert body.content_type == "application/json"
    assert body.filename == "rows.json"
    assert json.loads(body.content) == [
        {
            "externalId": "A",
            "status": "On Track",
            "asOfDate": "2025-01-31",
            "metricValue": 0.2,
            "comment": "ok",
        },
        {"externalId": "B", "status": "At Risk", "asOfDate": "2025-02-01", "x": 1},
        {"externalId": "C", "metricValue": "1.50", "asOfDate": "2025-02-02"},
        {"externalId": "D", "metricValue": "2", "asOfDate": "2025-02-03"},
    ]


def test_batch_body_from_bytes_and_paths(tmp_path):
    csv_body = batch_body(b"EXT-1,On Track,,2025-01-01\n", None)
    assert (csv_body.content_type, csv_body.filename) == ("text/csv", "upload.csv")
    json_body = batch_body(b'\xef\xbb\xbf [{"externalId": "x"}]', "mine.json")
    assert (json_body.content_type, json_body.filename) == ("application/json", "mine.json")
    path = tmp_path / "updates.json"
    path.write_text("[]")
    from_path = batch_body(str(path), None)
    assert (from_path.content_type, from_path.filename) == ("application/json", "updates.json")
    with pytest.raises(ConfigurationError, match="is a directory"):
        batch_body(tmp_path, None)
    with pytest.raises(TypeError, match="row 1 is a str"):
        batch_body(["EXT-1,On Track"], None)


def test_backoff_grows_with_jitter_and_honours_retry_after():
    policy = RetryPolicy(backoff=0.5, max_backoff=4.0, max_retry_after=30)
    rng = random.Random(7)
    for retry, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (8, 4.0)]:
        delays = {policy.delay(retry, None, rng) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered
    assert policy.delay(0, 3.0, rng) == 3.0
    assert policy.delay(0, 999.0, rng) == 30  # capped


def test_retry_after_header_forms():
    def answer(value):
        return httpx.Response(429, headers={"Retry-After": value} if value else {})

    assert retry_after_seconds(answer("7")) == 7.0
    assert retry_after_seconds(answer(None)) is None
    assert retry_after_seconds(answer("soon")) is None
    now = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert retry_after_seconds(answer("Wed, 01 Jan 2025 12:00:30 GMT"), now) == 30.0
    assert retry_after_seconds(answer("Wed, 01 Jan 2025 11:00:00 GMT"), now) == 0.0


def test_credentials_and_environment_rules():
    assert key_environment("pfk_live_abc") == "live"
    assert key_environment("pfk_test_abc") == "sandbox"
    assert key_environment("12004478285f4f4eb21cd25e62ba5eb7") is None
    assert ClientCore(api_key="pfk_test_abc").environment == "sandbox"
    assert ClientCore(api_key="plain-key", environment="sandbox").environment == "sandbox"
    assert ClientCore(username="u", password="p").environment == "live"
    assert ClientCore(token="t", environment="sandbox").feed_path("token") == (
        "/accessplansandbox/api/v2/token"
    )
    assert ClientCore(token="t").feed_path("coursedate") == "/accessplan/api/v2/coursedate"
    with pytest.raises(EnvironmentMismatch) as caught:
        ClientCore(api_key="pfk_live_abc", environment="sandbox")
    assert caught.value.key_environment == "live"
    with pytest.raises(ConfigurationError, match="'live' or 'sandbox'"):
        ClientCore(token="t", environment="prod")  # type: ignore[arg-type]
