"""The examples in docs/feeds-api.md are what the parser really answers."""

import json
import re
from pathlib import Path

import pytest
from feeds_sample import FIELDS

from planfeed.feeds import QueryError, parse_filter, parse_query

DOC = (Path(__file__).parents[2] / "docs" / "feeds-api.md").read_text(encoding="utf-8")
TABLE = re.findall(r"^\| (`[^|]*`|\*\(empty\)\*) \| (\d+) \| (.+) \|$", DOC, re.M)


def test_the_error_table_is_found():
    assert len(TABLE) == 15


@pytest.mark.parametrize(("cell", "position", "message"), TABLE)
def test_error_table_examples(cell, position, message):
    text = "" if cell == "*(empty)*" else cell.strip("`")
    with pytest.raises(QueryError) as caught:
        parse_filter(text, FIELDS)
    first = caught.value.errors[0]
    assert (first.position, first.message) == (int(position), message)


def test_error_body_example():
    block = re.search(r"```json\n(.*?)```", DOC, re.S)
    assert block is not None
    with pytest.raises(QueryError) as caught:
        parse_query({"$filter": "StartDat gt '2025-01-01'", "$top": "0"}, FIELDS)
    assert caught.value.to_body() == json.loads(block.group(1))
