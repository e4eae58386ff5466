"""Batch files as seeds 001 and 002 define them, plus what real files contain.

Rules: an optional header row (recognised by its first cell being "External ID", any case and
spacing; "Metric Value" is accepted for "Current Metric Value"); with a header, columns in any
order; without one, the template's order. No empty rows, except one final newline. UTF-8 with
or without a BOM, CRLF or LF, quoted fields with commas, quotes or newlines. Statuses are the
seven of seed 001, any case. Numbers are decimals (20% is written 0.2). Dates are any ISO-8601
form or MM/DD/YYYY; a time part is ignored.

Every bad row is reported with its row number as a spreadsheet shows it, the column, the value
and what would be right. A file with any error applies nothing (the caller's rule).
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import enum
import io
import itertools
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Protocol

import orjson
from dateutil.parser import isoparse

from planfeed.plans.statuses import STATUS_LABELS, Status

_STATUS_BY_LOWER = {
    label.lower(): status for label, status in zip(STATUS_LABELS, Status, strict=True)
}

EXTERNAL_ID = "External ID"
STATUS = "Status"
METRIC_VALUE = "Current Metric Value"
AS_OF = "As Of Date"
COMMENT = "Comment"
MAX_EXTERNAL_ID = 200
MAX_COMMENT = 4000
_VALUE_SHOWN = 200


class BatchKind(enum.StrEnum):
    PROGRESS = "progress"
    METRIC = "metric"

    @property
    def columns(self) -> tuple[str, ...]:
        """The template's columns, in order (Comment is optional for progress files)."""
        if self is BatchKind.PROGRESS:
            return (EXTERNAL_ID, STATUS, METRIC_VALUE, AS_OF, COMMENT)
        return (EXTERNAL_ID, METRIC_VALUE, AS_OF)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c != COMMENT)


_HEADER_ALIASES = {
    "external id": EXTERNAL_ID,
    "status": STATUS,
    "current metric value": METRIC_VALUE,
    "metric value": METRIC_VALUE,
    "as of date": AS_OF,
    "comment": COMMENT,
}
_JSON_KEYS = {
    "externalid": EXTERNAL_ID,
    "status": STATUS,
    "metricvalue": METRIC_VALUE,
    "currentmetricvalue": METRIC_VALUE,
    "asofdate": AS_OF,
    "comment": COMMENT,
}


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem: ``row`` as a spreadsheet numbers it (None for the whole file)."""

    row: int | None
    column: str | None
    value: str | None
    message: str

    def to_dict(self) -> dict[str, object]:
        return {
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "message": self.message,
        }


@dataclass(slots=True)
class ParsedRow:
    row: int
    external_id: str
    status: Status | None
    metric_value: float | None
    as_of: dt.date
    comment: str | None


@dataclass(slots=True)
class ParseResult:
    kind: BatchKind
    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    total_rows: int = 0
    has_header: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def fail(self, message: str) -> ParseResult:
        self.errors.append(RowError(None, None, None, message))
        return self


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """What validation needs to know of an item found by its external ID."""

    has_metric: bool
    writable: bool = True


class ItemFactsLike(Protocol):
    """Anything with :class:`ItemFacts`'s two attributes (the worker's looked-up items)."""

    @property
    def has_metric(self) -> bool: ...

    @property
    def writable(self) -> bool: ...


def _shown(value: str) -> str:
    return value if len(value) <= _VALUE_SHOWN else value[:_VALUE_SHOWN] + "…"


_FILE_NAME = re.compile(r"^[^,\n]*\.(csv|txt|json|tsv|xlsx?)$|^[^,\n]*[/\\][^,\n]*$", re.I)


def _decode(body: bytes, result: ParseResult) -> str | None:
    if not body.strip(b" \t\r\n\xef\xbb\xbf"):
        result.fail("the file is empty: post the CSV file's content as the request body")
        return None
    if b"\x00" in body[:8192]:
        result.fail(
            "the body is not a text file (it contains binary data); post the CSV file itself, "
            "saved as UTF-8 text, not a spreadsheet or archive"
        )
        return None
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        result.fail(
            f"the body is not UTF-8 text (invalid byte at position {exc.start}); save the CSV "
            "as UTF-8 and post it again"
        )
        return None
    stripped = text.strip()
    if "\n" not in stripped and "," not in stripped and _FILE_NAME.match(stripped):
        result.fail(
            f'the body is the text "{_shown(stripped)}", which looks like a file name, not the '
            "file's content: with curl use --data-binary @path/to/file.csv (with the @), or "
            "-InFile in PowerShell"
        )
        return None
    return text


def parse_batch(
    kind: BatchKind,
    body: bytes,
    content_type: str | None = None,
    *,
    max_rows: int = 1_000_000,
    filename: str | None = None,
) -> ParseResult:
    """Parse and check a whole file; never raises for bad input, only returns errors."""
    del filename  # the name carries no meaning; kept for callers' symmetry
    result = ParseResult(kind=kind)
    text = _decode(body, result)
    if text is None:
        return result
    is_json = (content_type or "").split(";")[0].strip().lower() == "application/json"
    if is_json or text.lstrip().startswith("["):
        records = _json_records(text, kind, result)
    else:
        records = _csv_records(text, kind, result)
    if records is None:
        return result
    validator = _RowValidator(kind, result)
    for row_number, cells in records:
        result.total_rows += 1
        if result.total_rows > max_rows:
            result.rows.clear()
            result.errors[:] = [r for r in result.errors if r.row is None]
            return result.fail(
                f"the file has more than {max_rows} rows, the most one file may hold; "
                "split it into several files"
            )
        validator.check(row_number, cells)
    if result.total_rows == 0 and result.ok:
        result.fail("the file has a header row but no data rows")
    result.errors.sort(key=lambda e: e.row or 0)
    return result


# A record's cells in this fixed order, "" where the file has no such column.
_CELLS = (EXTERNAL_ID, STATUS, METRIC_VALUE, AS_OF, COMMENT)
_Cells = tuple[str, str, str, str, str]
_Record = tuple[int, _Cells]


def _getter(columns: list[str] | tuple[str, ...]) -> itemgetter[list[str]]:
    """Picks :data:`_CELLS` out of a row of ``columns`` with one "" appended (index -1)."""
    return itemgetter(*(columns.index(name) if name in columns else -1 for name in _CELLS))


def _csv_records(text: str, kind: BatchKind, result: ParseResult) -> Iterator[_Record] | None:
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n") or text.endswith("\r"):
        text = text[:-1]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        first = next(reader)
    except (csv.Error, StopIteration) as exc:
        result.fail(f"the file is not readable CSV: {exc}")
        return None
    columns: list[str]
    if first and first[0].strip().lower() == "external id":
        result.has_header = True
        columns = _header_columns(first, kind, result)
        if not result.ok:
            return None
        pending: list[tuple[int, list[str]]] = []
    else:
        columns = []
        pending = [(1, first)]
    return _csv_rows(reader, pending, columns, kind, result)


def _header_columns(header: list[str], kind: BatchKind, result: ParseResult) -> list[str]:
    columns: list[str] = []
    allowed = ", ".join(kind.columns)
    for cell in header:
        name = _HEADER_ALIASES.get(" ".join(cell.split()).lower())
        if name is None or name not in kind.columns:
            result.errors.append(
                RowError(
                    1,
                    cell,
                    _shown(cell),
                    f"unknown column {cell!r} in the header; the columns are: {allowed}"
                    " (Metric Value is also accepted)",
                )
            )
        elif name in columns:
            result.errors.append(
                RowError(1, name, _shown(cell), f"the column {name!r} appears twice in the header")
            )
        columns.append(name or cell)
    for name in kind.required:
        if name not in columns:
            result.errors.append(
                RowError(1, name, None, f"the header has no {name!r} column; it is required")
            )
    return columns


def _csv_rows(
    reader: Iterator[list[str]],
    pending: list[tuple[int, list[str]]],
    header: list[str],
    kind: BatchKind,
    result: ParseResult,
) -> Iterator[_Record]:
    template = kind.columns
    by_header = _getter(header) if header else None
    by_template = _getter(template)
    padding = [""] * (len(template) + 1)
    expected = (
        f"{len(header)} (as in the header)"
        if header
        else ("4 or 5" if kind is BatchKind.PROGRESS else "3")
    )

    # Records are numbered as a spreadsheet numbers rows (a quoted newline stays in its row),
    # in one loop over the reader with no generator of its own: this runs once per row.
    numbered = itertools.chain(pending, zip(itertools.count(2), reader))
    spreadsheet_row = 1
    while True:
        try:
            spreadsheet_row, cells = next(numbered)
        except StopIteration:
            return
        except csv.Error as exc:
            result.errors.append(
                RowError(spreadsheet_row + 1, None, None, f"this row is not readable CSV: {exc}")
            )
            return
        if not cells or (not cells[0].strip() and not "".join(cells).strip()):
            result.total_rows += 1
            result.errors.append(
                RowError(
                    spreadsheet_row,
                    None,
                    None,
                    f"row {spreadsheet_row} is empty; a file must not contain empty rows",
                )
            )
            continue
        if header:
            if len(cells) != len(header):
                result.total_rows += 1
                result.errors.append(
                    RowError(
                        spreadsheet_row,
                        None,
                        _shown(",".join(cells)),
                        f"this row has {len(cells)} columns but {expected} were expected",
                    )
                )
                continue
            cells.append("")
            yield spreadsheet_row, by_header(cells)
        else:
            width = len(cells)
            if not (len(kind.required) <= width <= len(template)):
                result.total_rows += 1
                result.errors.append(
                    RowError(
                        spreadsheet_row,
                        None,
                        _shown(",".join(cells)),
                        f"this row has {width} columns but {expected} were expected, in the order "
                        f"{', '.join(template)}; add a header row to use another order",
                    )
                )
                continue
            cells.extend(padding[width:])
            yield spreadsheet_row, by_template(cells)


def _json_records(text: str, kind: BatchKind, result: ParseResult) -> Iterator[_Record] | None:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        result.fail(f"the body is not valid JSON: {exc}")
        return None
    if not isinstance(data, list):
        result.fail(
            "a JSON body must be an array of objects like "
            '{"externalId": "…", "status": "On Track", "metricValue": 0.2, '
            '"asOfDate": "2025-01-31", "comment": "…"}'
        )
        return None
    allowed = {k: v for k, v in _JSON_KEYS.items() if v in kind.columns}

    def records() -> Iterator[_Record]:
        for index, element in enumerate(data, start=1):
            if not isinstance(element, dict):
                result.total_rows += 1
                result.errors.append(
                    RowError(
                        index, None, _shown(str(element)), f"element {index} is not a JSON object"
                    )
                )
                continue
            cells: dict[str, str] = {}
            bad = False
            for key, value in element.items():
                name = allowed.get(str(key).replace("_", "").lower())
                if name is None:
                    result.errors.append(
                        RowError(
                            index,
                            str(key),
                            None,
                            f"unknown key {key!r}; the keys are: "
                            + ", ".join(sorted({_camel(v) for v in allowed.values()})),
                        )
                    )
                    bad = True
                    continue
                cells[name] = (
                    ""
                    if value is None
                    else (
                        orjson.dumps(value).decode()
                        if isinstance(value, (dict, list, bool))
                        else str(value)
                    )
                )
            if bad:
                result.total_rows += 1
                continue
            yield index, tuple(cells.get(name, "") for name in _CELLS)  # type: ignore[misc]

    return records()


def _camel(column: str) -> str:
    return {
        EXTERNAL_ID: "externalId",
        STATUS: "status",
        METRIC_VALUE: "metricValue",
        AS_OF: "asOfDate",
        COMMENT: "comment",
    }[column]


_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T].*)?$")


def parse_date(text: str) -> dt.date | None:
    """ISO-8601 (any form) or MM/DD/YYYY; a time part is ignored."""
    value = text.strip()
    if not value:
        return None
    if len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    match = _US_DATE.match(value)
    if match:
        month, day, year = (int(part) for part in match.groups())
        try:
            return dt.date(year, month, day)
        except ValueError:
            return None
    try:
        return isoparse(value).date()
    except (ValueError, OverflowError):
        return None


class _RowValidator:
    """Checks one record at a time; the common, valid case is kept cheap (100k-row files)."""

    def __init__(self, kind: BatchKind, result: ParseResult) -> None:
        self.kind = kind
        self.result = result
        self.progress = kind is BatchKind.PROGRESS
        self._dates: dict[str, dt.date | None] = {}  # files repeat a handful of dates

    def error(self, row: int, column: str, value: str, message: str) -> None:
        self.result.errors.append(RowError(row, column, _shown(value), message))

    def check(self, row: int, cells: _Cells) -> None:
        errors = self.result.errors
        errors_before = len(errors)
        external_id, raw_status, raw_value, raw_date, raw_comment = cells
        external_id = external_id.strip()
        if (
            not external_id
            or len(external_id) > MAX_EXTERNAL_ID
            or "," in external_id
            or '"' in external_id
            or "external" in external_id.lower()
        ):
            self._check_external_id(row, external_id)
        status = None
        if self.progress:
            status = _STATUS_BY_LOWER.get(raw_status.strip().lower())
            if status is None:
                self._status(row, raw_status)
        metric_value = None
        if raw_value:
            try:  # the common case inline; anything else gets the full check and its message
                metric_value = float(raw_value)
            except ValueError:
                metric_value = self._number(row, raw_value)
            else:
                if not math.isfinite(metric_value):
                    metric_value = self._number(row, raw_value)
        try:
            as_of = self._dates[raw_date]
        except KeyError:
            as_of = self._dates[raw_date] = parse_date(raw_date)
        if as_of is None:
            self.error(
                row,
                AS_OF,
                raw_date,
                "the As Of Date is missing"
                if not raw_date.strip()
                else f"{raw_date!r} is not a date; use ISO-8601 (2025-01-31, "
                "2025-01-31T10:00:00) or MM/DD/YYYY (01/31/2025)",
            )
        comment = raw_comment.strip() or None if raw_comment else None
        if comment is not None and len(comment) > MAX_COMMENT:
            self.error(
                row,
                COMMENT,
                comment,
                f"the comment has {len(comment)} characters; at most {MAX_COMMENT}",
            )
        elif comment is not None and "\x00" in comment:
            self.error(
                row,
                COMMENT,
                comment.replace("\x00", "\\0"),
                "the comment contains a NUL character (\\0), which cannot be stored; remove it",
            )
        if len(errors) == errors_before and as_of is not None:
            self.result.rows.append(
                ParsedRow(row, external_id, status, metric_value, as_of, comment)
            )

    def _check_external_id(self, row: int, external_id: str) -> None:
        if not external_id:
            self.error(row, EXTERNAL_ID, external_id, "the External ID is missing")
        elif len(external_id) > MAX_EXTERNAL_ID:
            self.error(
                row,
                EXTERNAL_ID,
                external_id,
                f"the External ID is longer than {MAX_EXTERNAL_ID} characters",
            )
        elif "," in external_id or '"' in external_id:
            self.error(
                row,
                EXTERNAL_ID,
                external_id,
                "External IDs cannot contain commas or quotation marks",
            )
        elif "external" in external_id.lower():
            self.error(
                row,
                EXTERNAL_ID,
                external_id,
                'External IDs cannot contain the phrase "external"; a header row must '
                "be the first row of the file",
            )

    def _status(self, row: int, raw: str) -> Status | None:
        status = Status.from_label(raw)
        if status is not None:
            return status
        if not raw.strip():
            self.error(
                row, STATUS, raw, "the Status is missing; use one of: " + ", ".join(STATUS_LABELS)
            )
            return None
        lowered = {label.lower(): label for label in STATUS_LABELS}
        guess = difflib.get_close_matches(
            " ".join(raw.lower().split()), list(lowered), n=1, cutoff=0.6
        )
        if not guess:
            squashed = {k.replace(" ", ""): v for k, v in lowered.items()}
            guess = [k for k in (raw.lower().replace(" ", ""),) if k in squashed]
            guess = [squashed[guess[0]].lower()] if guess else []
        hint = f' Did you mean "{lowered[guess[0]]}"?' if guess else ""
        self.error(
            row,
            STATUS,
            raw,
            f"{raw.strip()!r} is not a status; use one of: "
            + ", ".join(STATUS_LABELS)
            + " (any capitalisation, exact spelling)."
            + hint,
        )
        return None

    def _number(self, row: int, raw: str) -> float | None:
        text = raw.strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None:
            cleaned = text.replace(" ", "")
            if cleaned.endswith("%"):
                try:
                    percent = float(cleaned[:-1])
                except ValueError:
                    percent = None
                if percent is not None:
                    self.error(
                        row,
                        METRIC_VALUE,
                        raw,
                        f"percentages are written as decimals: write {percent / 100:g} "
                        f"for {cleaned}",
                    )
                    return None
            cleaned = cleaned.removeprefix("$").replace(",", "")
            try:
                value = float(cleaned)
            except ValueError:
                self.error(
                    row,
                    METRIC_VALUE,
                    raw,
                    f"{text!r} is not a number; write the value as a decimal like 12.5 or .2",
                )
                return None
        if math.isnan(value) or math.isinf(value):
            self.error(row, METRIC_VALUE, raw, f"{text!r} is not a finite number")
            return None
        return value


def parse_row(kind: BatchKind, cells: Mapping[str, str]) -> ParseResult:
    """One row typed into a form (keys are the template's column names), checked by exactly
    the rules a file's row gets; errors name the column and carry row number 1."""
    result = ParseResult(kind=kind, total_rows=1)
    external_id, status, value, as_of, comment = (cells.get(name) or "" for name in _CELLS)
    _RowValidator(kind, result).check(1, (external_id, status, value, as_of, comment))
    return result


def external_ids(result: ParseResult) -> set[str]:
    return {row.external_id for row in result.rows}


def check_against_items(result: ParseResult, items: Mapping[str, ItemFactsLike]) -> list[RowError]:
    """Second phase, after the caller looked the IDs up in its organisation and environment:
    unknown IDs, items the caller may not update, metric updates for items without a metric,
    and missing values for metric items."""
    new_errors: list[RowError] = []
    kept: list[ParsedRow] = []
    for row in result.rows:
        facts = items.get(row.external_id)
        if facts is None:
            new_errors.append(
                RowError(
                    row.row,
                    EXTERNAL_ID,
                    _shown(row.external_id),
                    "no plan item has this External ID in this organisation and environment; "
                    "a plan admin gets the right IDs from the plan's Export External IDs action",
                )
            )
        elif not facts.writable:
            new_errors.append(
                RowError(
                    row.row,
                    EXTERNAL_ID,
                    _shown(row.external_id),
                    "the key's user may not update this item: it needs admin rights on its plan",
                )
            )
        elif not facts.has_metric and result.kind is BatchKind.METRIC:
            new_errors.append(
                RowError(
                    row.row,
                    EXTERNAL_ID,
                    _shown(row.external_id),
                    "this item has no metric, so a metric update has nothing to set; send its "
                    "status in a progress file instead, or give the item a metric first",
                )
            )
        elif facts.has_metric and row.metric_value is None:
            new_errors.append(
                RowError(
                    row.row,
                    METRIC_VALUE,
                    "",
                    "this item has a metric, so the Current Metric Value is required",
                )
            )
        else:
            kept.append(row)
    result.rows = kept
    result.errors.extend(new_errors)
    result.errors.sort(key=lambda e: e.row or 0)
    return new_errors
