"""Pure parsing and validation of batch update files (CSV or JSON); no I/O, no database."""

from planfeed.ingest.parse import (
    BatchKind,
    ItemFacts,
    ParsedRow,
    ParseResult,
    RowError,
    check_against_items,
    external_ids,
    parse_batch,
    parse_row,
)

__all__ = [
    "BatchKind",
    "ItemFacts",
    "ParseResult",
    "ParsedRow",
    "RowError",
    "check_against_items",
    "external_ids",
    "parse_batch",
    "parse_row",
]
