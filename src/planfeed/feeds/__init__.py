"""The accessplanit-style feeds: the query language ($filter, $orderby, $select, paging) and its
compilation to SQL. Parsing is pure (no I/O); :mod:`planfeed.feeds.sql` builds expressions only.
"""

from planfeed.feeds.fields import (
    FieldSpec,
    FieldType,
    Literal,
    LiteralError,
    coerce_literal,
    field_lookup,
)
from planfeed.feeds.query import (
    MAX_FILTER_LENGTH,
    MAX_FILTER_NODES,
    BoolOp,
    Comparison,
    FieldLookup,
    Node,
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
from planfeed.feeds.sql import filter_clause, order_clauses

__all__ = [
    "MAX_FILTER_LENGTH",
    "MAX_FILTER_NODES",
    "BoolOp",
    "Comparison",
    "FieldLookup",
    "FieldSpec",
    "FieldType",
    "Literal",
    "LiteralError",
    "Node",
    "OrderTerm",
    "Query",
    "QueryError",
    "QueryErrorDetail",
    "TextMatch",
    "coerce_literal",
    "field_lookup",
    "filter_clause",
    "order_clauses",
    "parse_filter",
    "parse_orderby",
    "parse_query",
    "parse_select",
]
