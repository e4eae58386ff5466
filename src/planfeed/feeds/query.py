"""The feeds query language: ``$filter``, ``$orderby``, ``$select``, ``$top``, ``$skip``, ``$count``
and ``$upsert`` of the accessplanit API v2 feeds (seed 004), with OData 4.01's case rules.

A small hand-written tokenizer and recursive-descent parser, so every error carries the exact
0-based position inside the option's value, the field involved and plain words on what would be
right. Pure: no I/O, no database; :mod:`planfeed.feeds.sql` turns the result into SQL.

Grammar (docs/feeds-api.md has the full description)::

    filter     = or_expr
    or_expr    = and_expr { "or" and_expr }
    and_expr   = primary { "and" primary }
    primary    = "(" or_expr ")" | function | comparison
    function   = ("contains" | "startswith" | "endswith") "(" field "," string ")"
    comparison = field ("eq" | "ne" | "lt" | "le" | "gt" | "ge") literal
    literal    = string | number | "true" | "false" | "null" | bare-date

Syntax errors stop the parse at the first one (what follows cannot be read reliably); problems
with fields and values (unknown field, wrong type, not filterable) are all collected.
"""

from __future__ import annotations

import contextlib
import difflib
import enum
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from planfeed.feeds.fields import FieldSpec, FieldType, LiteralError, coerce_literal

MAX_FILTER_LENGTH = 2000
MAX_FILTER_NODES = 100
MAX_NESTING = 20
MAX_SKIP = 1_000_000_000

OPTIONS = ("$filter", "$orderby", "$select", "$top", "$skip", "$count", "$upsert")
COMPARISON_OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge")
TEXT_FUNCTIONS = ("contains", "startswith", "endswith")
_ORDERING_OPERATORS = frozenset({"lt", "le", "gt", "ge"})
_SYMBOL_HINTS = {
    "=": "eq",
    "==": "eq",
    "!=": "ne",
    "<>": "ne",
    "<": "lt",
    "<=": "le",
    ">": "gt",
    ">=": "ge",
    "&&": "and",
    "&": "and",
    "||": "or",
    "|": "or",
}
_FILTER_EXAMPLE = "CourseID eq 'FirAid'"
_LIST_FIELDS_MAX = 40


# --------------------------------------------------------------------------- the parsed query


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value``; ``value`` is already of the field's type (None for null)."""

    field: FieldSpec
    op: str  # eq ne lt le gt ge
    value: Any
    position: int


@dataclass(frozen=True, slots=True)
class TextMatch:
    """``contains``/``startswith``/``endswith`` on a text field; case-insensitive, no wildcards."""

    field: FieldSpec
    function: str  # contains | startswith | endswith
    value: str
    position: int


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``and``/``or`` over two or more operands (a chain of one operator is one BoolOp)."""

    op: str  # "and" | "or"
    operands: tuple[Node, ...]


Node = Comparison | TextMatch | BoolOp


@dataclass(frozen=True, slots=True)
class OrderTerm:
    field: FieldSpec
    descending: bool


@dataclass(frozen=True, slots=True)
class Query:
    filter: Node | None
    orderby: tuple[OrderTerm, ...]
    select: tuple[FieldSpec, ...] | None  # None = the module's default fields
    top: int  # page size
    skip: int  # PAGE NUMBER (seed 004): offset = skip * top
    count: bool
    upsert: Node | None  # $upsert, only when allowed

    @property
    def offset(self) -> int:
        """Rows to skip: ``$skip`` counts pages of ``$top`` rows, not rows."""
        return self.skip * self.top


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class QueryErrorDetail:
    option: str  # "$filter", ... or the unknown option's name as written
    message: str  # plain words: what is wrong and what would be right
    position: int | None = None  # 0-based character offset inside that option's value
    field: str | None = None  # the field name involved, as the client wrote it

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"option": self.option}
        if self.position is not None:
            data["position"] = self.position
        if self.field is not None:
            data["field"] = self.field
        data["message"] = self.message
        return data

    def summary(self) -> str:
        where = f" (position {self.position})" if self.position is not None else ""
        return f"{self.option}{where}: {self.message}"


class QueryError(Exception):
    """Every problem found in a request's query options (at least one)."""

    def __init__(self, errors: Iterable[QueryErrorDetail]) -> None:
        self.errors: list[QueryErrorDetail] = list(errors)
        if not self.errors:
            raise ValueError("a QueryError needs at least one detail")
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """All problems in one line, for the top-level ``message`` of the 400 body."""
        return "; ".join(detail.summary() for detail in self.errors)

    def to_body(self) -> dict[str, Any]:
        """The 400 response body: ``{"error": "invalid_query", "message", "errors": [...]}``."""
        return {
            "error": "invalid_query",
            "message": self.message,
            "errors": [detail.to_dict() for detail in self.errors],
        }


FieldLookup = Mapping[str, FieldSpec]  # keys are lower-cased field names


class _Stop(Exception):
    """Ends parsing one option after a syntax error (already recorded)."""


# --------------------------------------------------------------------------- tokenizer


class _Kind(enum.Enum):
    WORD = "word"
    STRING = "string"
    NUMBER = "number"
    BARE_DATE = "date"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    SYMBOL = "symbol"
    STAR = "*"
    END = "end"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    text: str  # as written
    position: int
    value: Any = None  # STRING: the unescaped text; NUMBER: int or Decimal

    def shown(self) -> str:
        if self.kind is _Kind.END:
            return "the end"
        text = self.text if len(self.text) <= 40 else self.text[:40] + "…"
        return f"'{text}'" if self.kind is not _Kind.STRING else text


_WHITESPACE = frozenset(" \t\r\n")
_WORD_START = re.compile(r"[A-Za-z_]")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE = re.compile(r"[0-9A-Za-z_.:+\-]+")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BARE_DATE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)
_SYMBOL_CHARS = "=<>!&|~"
_DIGITS = frozenset("0123456789")
_PUNCTUATION = {"(": _Kind.LPAREN, ")": _Kind.RPAREN, ",": _Kind.COMMA, "*": _Kind.STAR}


def _tokenize(text: str, fail: _Fail) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in _WHITESPACE:
            i += 1
        elif char in _PUNCTUATION:
            tokens.append(_Token(_PUNCTUATION[char], char, i))
            i += 1
        elif char == "'":
            i = _read_string(text, i, tokens, fail)
        elif char == '"':
            end = text.find('"', i + 1)
            inner = text[i + 1 : end] if end > 0 else "text"
            fail(
                i,
                "text goes in single quotes, not double quotes: write '"
                + inner.replace("'", "''")[:40]
                + "'",
            )
        elif _WORD_START.match(char):
            match = _WORD.match(text, i)
            assert match is not None
            tokens.append(_Token(_Kind.WORD, match.group(), i))
            i = match.end()
        elif char in _DIGITS or (char in "-+." and i + 1 < n and text[i + 1] in _DIGITS):
            i = _read_bare(text, i, tokens, fail)
        elif char in _SYMBOL_CHARS:
            end = i
            while end < n and text[end] in _SYMBOL_CHARS:
                end += 1
            tokens.append(_Token(_Kind.SYMBOL, text[i:end], i))
            i = end
        else:
            fail(i, f"unexpected character {char!r}; {_WHAT_FITS}")
    tokens.append(_Token(_Kind.END, "", n))
    return tokens


_WHAT_FITS = (
    "a condition is a field, an operator and a value, e.g. "
    f"{_FILTER_EXAMPLE}, or contains(CourseID,'Fir'), joined with and/or"
)


def _read_string(text: str, start: int, tokens: list[_Token], fail: _Fail) -> int:
    """A quoted string from ``start`` (the opening quote); ``''`` inside is one quote."""
    parts: list[str] = []
    i = start + 1
    while True:
        end = text.find("'", i)
        if end < 0:
            fail(
                start,
                "the quote opened here is never closed; end the text with ' "
                "(write '' for a quote inside the text, as in 'O''Neil')",
            )
        parts.append(text[i:end])
        if end + 1 < len(text) and text[end + 1] == "'":
            parts.append("'")
            i = end + 2
            continue
        tokens.append(_Token(_Kind.STRING, text[start : end + 1], start, "".join(parts)))
        return end + 1


def _read_bare(text: str, start: int, tokens: list[_Token], fail: _Fail) -> int:
    """An unquoted number, or an unquoted date/date-time (accepted for date fields)."""
    match = _BARE.match(text, start)
    assert match is not None
    word = match.group()
    if _NUMBER.fullmatch(word):
        digits = word
        is_integer = re.fullmatch(r"-?[0-9]+", digits) is not None
        value: int | Decimal = int(digits) if is_integer and len(digits) <= 30 else Decimal(digits)
        tokens.append(_Token(_Kind.NUMBER, word, start, value))
    elif _BARE_DATE.fullmatch(word):
        tokens.append(_Token(_Kind.BARE_DATE, word, start, word))
    else:
        fail(
            start,
            f"'{word[:40]}' is neither a number nor a quoted value; put text, dates and "
            f"date-times in single quotes, e.g. '{word[:40]}'",
        )
    return match.end()


# --------------------------------------------------------------------------- shared helpers


class _Fail:
    """Records errors for one option; calling it records a syntax error and stops."""

    def __init__(self, option: str) -> None:
        self.option = option
        self.errors: list[QueryErrorDetail] = []

    def add(self, position: int | None, message: str, field: str | None = None) -> None:
        self.errors.append(QueryErrorDetail(self.option, message, position, field))

    def __call__(self, position: int, message: str, field: str | None = None) -> Any:
        self.add(position, message, field)
        raise _Stop

    def raise_if_any(self) -> None:
        if self.errors:
            raise QueryError(self.errors)


def _resolve(token: _Token, fields: FieldLookup, fail: _Fail, *, purpose: str) -> FieldSpec | None:
    """The field a name token refers to, or None after recording why it cannot be used."""
    spec = fields.get(token.text.lower())
    if spec is None:
        fail.add(token.position, _unknown_field_message(token.text, fields), token.text)
        return None
    if purpose == "filter" and not spec.filterable:
        fail.add(
            token.position,
            f"the field {spec.name} cannot be used in {fail.option}; filterable fields: "
            + _field_list(fields, lambda s: s.filterable),
            token.text,
        )
        return None
    if purpose == "orderby" and not spec.sortable:
        fail.add(
            token.position,
            f"the field {spec.name} cannot be sorted on; sortable fields: "
            + _field_list(fields, lambda s: s.sortable),
            token.text,
        )
        return None
    return spec


def _unknown_field_message(name: str, fields: FieldLookup) -> str:
    close = difflib.get_close_matches(name.lower(), list(fields), n=1, cutoff=0.6)
    if close:
        return f"unknown field '{name}'; did you mean {fields[close[0]].name}?"
    return f"unknown field '{name}'; known fields: " + _field_list(fields, lambda _s: True)


def _field_list(fields: FieldLookup, keep: Callable[[FieldSpec], bool]) -> str:
    names = [spec.name for spec in fields.values() if keep(spec)]
    if not names:
        return "none"
    if len(names) > _LIST_FIELDS_MAX:
        return ", ".join(names[:_LIST_FIELDS_MAX]) + f" and {len(names) - _LIST_FIELDS_MAX} more"
    return ", ".join(names)


def _lower_keys(fields: FieldLookup) -> FieldLookup:
    """The lookup keyed by lower-cased names, whatever case the caller used for its keys."""
    if all(key == key.lower() for key in fields):
        return fields
    return {spec.name.lower(): spec for spec in fields.values()}


_INVALID_FIELD = FieldSpec("?", FieldType.STRING)


# --------------------------------------------------------------------------- $filter


class _FilterParser:
    def __init__(self, text: str, fields: FieldLookup, fail: _Fail) -> None:
        self.fields = fields
        self.fail = fail
        self.text = text
        self.tokens = _tokenize(text, fail)
        self.index = 0
        self.nodes = 0
        self.depth = 0

    # token helpers
    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind is not _Kind.END:
            self.index += 1
        return token

    def is_keyword(self, token: _Token, *words: str) -> bool:
        return token.kind is _Kind.WORD and token.text.lower() in words

    def count_node(self, position: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_FILTER_NODES:
            self.fail(
                position,
                f"the expression has more than {MAX_FILTER_NODES} nodes (each condition and "
                "each and/or counts as one); split the request or simplify the expression",
            )

    # grammar
    def parse(self) -> Node:
        if self.peek().kind is _Kind.END:
            self.fail(0, f"the expression is empty; write a condition such as {_FILTER_EXAMPLE}")
        node = self.or_expr()
        token = self.peek()
        if token.kind is _Kind.RPAREN:
            self.fail(token.position, "this ')' has no matching '('; remove it or add a '('")
        if token.kind is _Kind.SYMBOL and _SYMBOL_HINTS.get(token.text) in ("and", "or"):
            self.fail(
                token.position,
                f"unknown operator '{token.text}'; join conditions with "
                f"'{_SYMBOL_HINTS[token.text]}' instead",
            )
        if token.kind is not _Kind.END:
            self.fail(
                token.position,
                f"unexpected {token.shown()} after a complete condition; join conditions "
                "with 'and' or 'or'",
            )
        return node

    def or_expr(self) -> Node:
        return self.chain("or", self.and_expr)

    def and_expr(self) -> Node:
        return self.chain("and", self.primary)

    def chain(self, word: str, operand: Callable[[], Node]) -> Node:
        operands: list[Node] = [operand()]
        while self.is_keyword(self.peek(), word):
            keyword = self.advance()
            self.count_node(keyword.position)
            after = self.peek()
            if after.kind in (_Kind.END, _Kind.RPAREN) or self.is_keyword(after, "and", "or"):
                self.fail(
                    keyword.position,
                    f"'{keyword.text}' has no condition after it; add one (e.g. "
                    f"{_FILTER_EXAMPLE}) or remove the '{keyword.text}'",
                )
            operands.append(operand())
        if len(operands) == 1:
            return operands[0]
        flat: list[Node] = []
        for node in operands:
            flat.extend(node.operands if isinstance(node, BoolOp) and node.op == word else [node])
        return BoolOp(word, tuple(flat))

    def primary(self) -> Node:
        token = self.peek()
        if token.kind is _Kind.LPAREN:
            return self.group()
        if token.kind is _Kind.WORD:
            if self.peek(1).kind is _Kind.LPAREN:
                return self.function()
            lowered = token.text.lower()
            if lowered not in self.fields:
                if lowered in ("and", "or"):
                    self.fail(
                        token.position,
                        f"'{token.text}' needs a condition before it, e.g. "
                        f"{_FILTER_EXAMPLE} {lowered} status eq 'Available'",
                    )
                if lowered == "not":
                    self.fail(
                        token.position,
                        "'not' is not supported; use ne for 'not equal' (e.g. CourseID ne "
                        "'FirAid')",
                    )
                if lowered in COMPARISON_OPERATORS:
                    self.fail(
                        token.position,
                        f"'{token.text}' needs a field name before it, e.g. {_FILTER_EXAMPLE}",
                    )
            return self.comparison()
        if token.kind is _Kind.END:
            self.fail(token.position, f"a condition is missing here; {_WHAT_FITS}")
        if token.kind is _Kind.RPAREN:
            self.fail(token.position, f"expected a condition before ')'; {_WHAT_FITS}")
        if token.kind in (_Kind.STRING, _Kind.NUMBER, _Kind.BARE_DATE):
            self.fail(
                token.position,
                f"a condition starts with a field name, not a value (found {token.shown()}); "
                f"write e.g. {_FILTER_EXAMPLE}",
            )
        return self.fail(token.position, f"unexpected {token.shown()}; {_WHAT_FITS}")

    def group(self) -> Node:
        opening = self.advance()
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.fail(
                opening.position,
                f"parentheses are nested more than {MAX_NESTING} deep; simplify the expression",
            )
        if self.peek().kind is _Kind.RPAREN:
            self.fail(
                opening.position,
                f"the parentheses are empty; put a condition inside, e.g. ({_FILTER_EXAMPLE})",
            )
        node = self.or_expr()
        closing = self.peek()
        if closing.kind is not _Kind.RPAREN:
            if closing.kind is _Kind.END:
                self.fail(
                    opening.position,
                    "this '(' is never closed; add a ')' after the grouped conditions",
                )
            self.fail(
                closing.position,
                f"expected 'and', 'or' or ')' here, found {closing.shown()} (the '(' at "
                f"position {opening.position} is still open)",
            )
        self.advance()
        self.depth -= 1
        return node

    def function(self) -> Node:
        name = self.advance()
        function = name.text.lower()
        opening = self.advance()  # the '(' seen by primary()
        if function not in TEXT_FUNCTIONS:
            self.fail(
                name.position,
                f"unknown function '{name.text}'; use contains, startswith or endswith, "
                "e.g. contains(CourseID,'Fir')",
            )
        usage = f"write {function}(Field,'text'), e.g. {function}(CourseID,'Fir')"
        field_token = self.peek()
        if field_token.kind is not _Kind.WORD:
            self.fail(
                field_token.position,
                f"{function}() needs a field name first, found {field_token.shown()}; {usage}",
            )
        self.advance()
        spec = _resolve(field_token, self.fields, self.fail, purpose="filter")
        if spec is not None and spec.type is not FieldType.STRING:
            self.fail.add(
                field_token.position,
                f"{function}() works on text fields only; {spec.name} is a {spec.type} field "
                "(compare it with eq, ne, lt, le, gt or ge instead)",
                field_token.text,
            )
            spec = None
        comma = self.peek()
        if comma.kind is not _Kind.COMMA:
            self.fail(
                comma.position,
                f"expected ',' after the field name in {function}(), found {comma.shown()}; "
                + usage,
                field_token.text,
            )
        self.advance()
        value_token = self.peek()
        if value_token.kind is not _Kind.STRING:
            if value_token.kind in (_Kind.NUMBER, _Kind.BARE_DATE, _Kind.WORD):
                self.fail.add(
                    value_token.position,
                    f"the text to look for must be in single quotes (found "
                    f"{value_token.shown()}); " + usage,
                    field_token.text,
                )
                self.advance()
            else:
                self.fail(
                    value_token.position,
                    f"{function}() needs the text to look for after the comma, found "
                    f"{value_token.shown()}; " + usage,
                    field_token.text,
                )
        else:
            self.advance()
        closing = self.peek()
        if closing.kind is not _Kind.RPAREN:
            if closing.kind is _Kind.END:
                self.fail(
                    opening.position,
                    f"the '(' of {function}() is never closed; add a ')' after the text",
                )
            self.fail(
                closing.position,
                f"expected ')' to close {function}(), found {closing.shown()}; {usage}",
            )
        self.advance()
        self.count_node(name.position)
        value = ""
        if value_token.kind is _Kind.STRING:
            try:
                value = coerce_literal(FieldSpec("text", FieldType.STRING), value_token.value)
            except LiteralError as exc:
                self.fail.add(value_token.position, exc.message, field_token.text)
        return TextMatch(spec or _INVALID_FIELD, function, value, name.position)

    def comparison(self) -> Node:
        field_token = self.advance()
        spec = _resolve(field_token, self.fields, self.fail, purpose="filter")
        operator = self.peek()
        allowed = "use one of eq, ne, lt, le, gt, ge"
        if operator.kind is _Kind.END:
            self.fail(
                operator.position,
                f"an operator and a value are missing after {field_token.text}; "
                f"e.g. {field_token.text} eq 'value' ({allowed})",
                field_token.text,
            )
        if operator.kind is _Kind.SYMBOL:
            hint = _SYMBOL_HINTS.get(operator.text)
            better = f"; write {hint} instead" if hint else ""
            self.fail(
                operator.position,
                f"unknown operator '{operator.text}'{better} ({allowed}, and/or to join)",
                field_token.text,
            )
        if not (operator.kind is _Kind.WORD and operator.text.lower() in COMPARISON_OPERATORS):
            if operator.kind is _Kind.WORD and operator.text.lower() in TEXT_FUNCTIONS:
                self.fail(
                    operator.position,
                    f"{operator.text.lower()} is a function; write "
                    f"{operator.text.lower()}({field_token.text},'text')",
                    field_token.text,
                )
            if operator.kind is _Kind.WORD:
                self.fail(
                    operator.position,
                    f"unknown operator {operator.shown()}; {allowed}",
                    field_token.text,
                )
            self.fail(
                operator.position,
                f"expected an operator after {field_token.text}, found {operator.shown()}; "
                f"{allowed}",
                field_token.text,
            )
        self.advance()
        op = operator.text.lower()
        value_token = self.peek()
        raw = self.literal(value_token, field_token, operator)
        self.advance()
        self.count_node(field_token.position)
        value = self.coerce(spec, op, raw, value_token, field_token)
        return Comparison(spec or _INVALID_FIELD, op, value, field_token.position)

    def literal(self, token: _Token, field_token: _Token, operator: _Token) -> Any:
        """The raw literal of a comparison's value token (records a syntax error otherwise)."""
        if token.kind in (_Kind.STRING, _Kind.NUMBER, _Kind.BARE_DATE):
            return token.value
        if token.kind is _Kind.WORD:
            word = token.text.lower()
            if word in ("true", "false"):
                return word == "true"
            if word == "null":
                return None
            if word not in ("and", "or"):
                if word in self.fields:
                    self.fail(
                        token.position,
                        f"comparing two fields is not supported; compare {field_token.text} "
                        "with a value: 'text', 42, 12.5, true, false or null",
                        field_token.text,
                    )
                self.fail(
                    token.position,
                    f"'{token.text}' is not a value; put text in single quotes: "
                    f"{field_token.text} {operator.text} '{token.text}'",
                    field_token.text,
                )
        return self.fail(
            token.position,
            f"'{operator.text}' has no value after it; write e.g. {field_token.text} "
            f"{operator.text} 'value' (text in single quotes, numbers, true, false or null)",
            field_token.text,
        )

    def coerce(
        self, spec: FieldSpec | None, op: str, raw: Any, token: _Token, field_token: _Token
    ) -> Any:
        if spec is None:
            return None
        if raw is None and op in _ORDERING_OPERATORS:
            self.fail.add(
                token.position,
                f"null can only be compared with eq or ne (not {op}); write "
                f"{field_token.text} eq null or {field_token.text} ne null",
                field_token.text,
            )
            return None
        if spec.type is FieldType.BOOLEAN and op in _ORDERING_OPERATORS:
            self.fail.add(
                token.position,
                f"{spec.name} is a boolean field; compare it with eq or ne, not {op}",
                field_token.text,
            )
            return None
        if token.kind is _Kind.BARE_DATE and spec.type not in (FieldType.DATE, FieldType.DATETIME):
            self.fail.add(
                token.position,
                f"{spec.name} is a {spec.type} field; put text in single quotes: '{token.text}'",
                field_token.text,
            )
            return None
        try:
            return coerce_literal(spec, raw)
        except LiteralError as exc:
            self.fail.add(token.position, f"{spec.name}: {exc.message}", field_token.text)
            return None


def parse_filter(text: str, fields: FieldLookup, *, option: str = "$filter") -> Node:
    """Parse a ``$filter`` (or ``$upsert``) expression; raises QueryError with every problem."""
    fields = _lower_keys(fields)
    fail = _Fail(option)
    if len(text) > MAX_FILTER_LENGTH:
        fail.add(
            MAX_FILTER_LENGTH,
            f"the expression is {len(text)} characters long; at most {MAX_FILTER_LENGTH} are "
            "allowed, so split the request or simplify the expression",
        )
        fail.raise_if_any()
    node: Node | None = None
    with contextlib.suppress(_Stop):
        node = _FilterParser(text, fields, fail).parse()
    fail.raise_if_any()
    assert node is not None
    return node


# --------------------------------------------------------------------------- $orderby, $select


def _name_list(
    text: str, fail: _Fail, *, allow_direction: bool
) -> Iterator[tuple[_Token, _Token | None]]:
    """``name [asc|desc] {, name [asc|desc]}`` as (name, direction) tokens; stops on bad syntax."""
    tokens = _tokenize(text, fail)
    what = "a field name, optionally followed by asc or desc" if allow_direction else "a field name"
    example = "startdate desc,label asc" if allow_direction else "label,startdate,status"
    if tokens[0].kind is _Kind.END:
        fail(0, f"the value is empty; write {what}, comma-separated, e.g. {example}")
    index = 0
    while True:
        name = tokens[index]
        if name.kind is not _Kind.WORD:
            if name.kind in (_Kind.COMMA, _Kind.END):
                fail(
                    name.position,
                    f"an entry is empty here; write {what} between the commas, e.g. {example}",
                )
            fail(name.position, f"expected {what}, found {name.shown()}; e.g. {example}")
        index += 1
        direction: _Token | None = None
        if allow_direction and tokens[index].kind is _Kind.WORD:
            direction = tokens[index]
            if direction.text.lower() not in ("asc", "desc"):
                fail(
                    direction.position,
                    f"unknown sort direction '{direction.text}'; write asc or desc "
                    "(or nothing, which means asc)",
                    name.text,
                )
            index += 1
        yield name, direction
        separator = tokens[index]
        if separator.kind is _Kind.END:
            return
        if separator.kind is not _Kind.COMMA:
            after = "the sort direction" if direction is not None else name.text
            fail(
                separator.position,
                f"expected ',' or the end after {after}, found {separator.shown()}; "
                f"separate entries with commas, e.g. {example}",
                name.text,
            )
        index += 1


def parse_orderby(text: str, fields: FieldLookup) -> tuple[OrderTerm, ...]:
    """Parse ``$orderby``: ``Field [asc|desc]``, comma-separated, highest priority first."""
    fields = _lower_keys(fields)
    fail = _Fail("$orderby")
    terms: list[OrderTerm] = []
    seen: dict[str, _Token] = {}
    try:
        for name, direction in _name_list(text, fail, allow_direction=True):
            spec = _resolve(name, fields, fail, purpose="orderby")
            if spec is None:
                continue
            if spec.name in seen:
                fail.add(
                    name.position,
                    f"{spec.name} appears twice in $orderby (first at position "
                    f"{seen[spec.name].position}); list each field once",
                    name.text,
                )
                continue
            seen[spec.name] = name
            descending = direction is not None and direction.text.lower() == "desc"
            terms.append(OrderTerm(spec, descending))
    except _Stop:
        pass
    fail.raise_if_any()
    return tuple(terms)


def parse_select(text: str, fields: FieldLookup) -> tuple[FieldSpec, ...]:
    """Parse ``$select``: comma-separated field names, order kept, duplicates ignored.

    ``*`` alone selects every field, in the module's order.
    """
    fields = _lower_keys(fields)
    fail = _Fail("$select")
    if text.strip() == "*":
        return tuple(fields.values())
    chosen: dict[str, FieldSpec] = {}
    try:
        for name, _direction in _name_list(text, fail, allow_direction=False):
            spec = _resolve(name, fields, fail, purpose="select")
            if spec is not None:
                chosen.setdefault(spec.name, spec)
    except _Stop:
        pass
    fail.raise_if_any()
    return tuple(chosen.values())


# --------------------------------------------------------------------------- paging and count


def _whole_number(option: str, text: str, low: int, high: int) -> int:
    value = text.strip()
    if re.fullmatch(r"\+?[0-9]+", value) and len(value) <= 12 and low <= int(value) <= high:
        return int(value)
    meaning = {"$top": "the page size", "$skip": "the page number, starting at 0"}[option]
    if re.fullmatch(r"[+-]?[0-9]+", value) and len(value) <= 12:
        problem = f"{value} is out of range"
    elif not value:
        problem = "the value is empty"
    else:
        shown = value if len(value) <= 40 else value[:40] + "…"
        problem = f"'{shown}' is not a whole number"
    raise QueryError(
        [
            QueryErrorDetail(
                option, f"{problem}; {option} is {meaning}, a whole number from {low} to {high}", 0
            )
        ]
    )


def _boolean_option(option: str, text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "false"):
        return value == "true"
    shown = text if len(text) <= 40 else text[:40] + "…"
    raise QueryError(
        [QueryErrorDetail(option, f"'{shown}' is not allowed; write true or false", 0)]
    )


# --------------------------------------------------------------------------- all options


def _parameter_items(params: Any) -> Iterable[tuple[str, str]]:
    """Every (name, value) pair, repeats included (Starlette's QueryParams keep them)."""
    if hasattr(params, "multi_items"):
        return list(params.multi_items())
    if isinstance(params, Mapping):
        return list(params.items())
    return list(params)


def parse_query(
    params: Mapping[str, str],
    fields: FieldLookup,
    *,
    default_top: int = 50,
    max_top: int = 1000,
    allow_upsert: bool = False,
) -> Query:
    """Parse a request's query parameters into a Query; raises QueryError with every problem.

    ``params`` may also be Starlette's ``QueryParams`` (or a list of pairs), so a repeated option
    is seen. Option names are case-insensitive; parameters not starting with '$' are ignored.
    """
    fields = _lower_keys(fields)
    errors: list[QueryErrorDetail] = []
    supported = [o for o in OPTIONS if o != "$upsert" or allow_upsert]
    values: dict[str, tuple[str, str]] = {}
    for raw_name, raw_value in _parameter_items(params):
        name, value = str(raw_name), str(raw_value)
        if not name.startswith("$"):
            continue
        key = name.lower()
        if key == "$upsert" and not allow_upsert:
            errors.append(
                QueryErrorDetail(
                    name,
                    "$upsert is only accepted when creating a record (POST to the module); "
                    "use $filter to read",
                )
            )
            continue
        if key not in supported:
            close = difflib.get_close_matches(key, supported, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}? " if close else ""
            errors.append(
                QueryErrorDetail(
                    name, f"unknown option {name}; {hint}supported: {', '.join(supported)}"
                )
            )
            continue
        if key in values:
            errors.append(
                QueryErrorDetail(
                    name,
                    f"{key} is given more than once; give it once (join conditions with and/or)"
                    if key in ("$filter", "$upsert")
                    else f"{key} is given more than once; give it once",
                )
            )
            continue
        values[key] = (name, value)

    def run(key: str, parse: Any, default: Any) -> Any:
        if key not in values:
            return default
        try:
            return parse(values[key][1])
        except QueryError as exc:
            errors.extend(exc.errors)
            return default

    top_limit = max(1, max_top)
    query = Query(
        filter=run("$filter", lambda v: parse_filter(v, fields), None),
        orderby=run("$orderby", lambda v: parse_orderby(v, fields), ()),
        select=run("$select", lambda v: parse_select(v, fields), None),
        top=run(
            "$top", lambda v: _whole_number("$top", v, 1, top_limit), min(default_top, top_limit)
        ),
        skip=run("$skip", lambda v: _whole_number("$skip", v, 0, MAX_SKIP), 0),
        count=run("$count", lambda v: _boolean_option("$count", v), False),
        upsert=run("$upsert", lambda v: parse_filter(v, fields, option="$upsert"), None),
    )
    if errors:
        raise QueryError(errors)
    return query


__all__ = [
    "COMPARISON_OPERATORS",
    "MAX_FILTER_LENGTH",
    "MAX_FILTER_NODES",
    "MAX_NESTING",
    "MAX_SKIP",
    "OPTIONS",
    "TEXT_FUNCTIONS",
    "BoolOp",
    "Comparison",
    "FieldLookup",
    "Node",
    "OrderTerm",
    "Query",
    "QueryError",
    "QueryErrorDetail",
    "TextMatch",
    "parse_filter",
    "parse_orderby",
    "parse_query",
    "parse_select",
]
