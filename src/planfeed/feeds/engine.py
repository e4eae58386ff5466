"""The one generic code path behind every feeds module: read a page, read one, create, update,
upsert and delete.

Everything module-specific comes from the module's declaration in :mod:`planfeed.feeds.modules`.
The session passed in is bound to the caller's scope (:mod:`planfeed.db.scope`), so no query
here filters by organisation or environment itself; the caller's row-level access
(``visible_rows``/``writable_rows``) is applied here, in one place, for reads and writes alike.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dateutil.parser import isoparse
from sqlalchemy import ColumnElement, Select, String, TypeDecorator, func, select, text, type_coerce
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from planfeed.audit.service import record
from planfeed.auth.principal import Principal
from planfeed.custom_fields.models import CustomFieldDefinition
from planfeed.feeds.errors import FeedError, FieldProblem, conflict, forbidden, invalid, not_found
from planfeed.feeds.fields import FieldSpec, FieldType
from planfeed.feeds.query import BoolOp, Comparison, Node, parse_filter, parse_query
from planfeed.feeds.registry import Access, Field, Module, Registry
from planfeed.feeds.sql import filter_clause, order_clauses

MAX_BODY_FIELDS = 200


class IsoText(TypeDecorator[str]):
    """A JSON-held date or time compared as text: bound values become the stored ISO form."""

    impl = String()
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return _iso(value) if isinstance(value, dt.date) else value

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        return repr(self.process_bind_param(value, dialect))


def _iso(value: dt.date) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return value.isoformat()


@dataclass
class ModuleView:
    """A module as one organisation and environment see it: built-in plus custom fields."""

    module: Module
    fields: dict[str, Field]
    columns: dict[str, ColumnElement[Any]] = field(init=False)
    labelled: dict[str, ColumnElement[Any]] = field(init=False)
    specs: dict[str, FieldSpec] = field(init=False)

    def __post_init__(self) -> None:
        self.columns = {f.name: column_of(self.module, f) for f in self.fields.values()}
        self.labelled = {name: column.label(name) for name, column in self.columns.items()}
        self.specs = {key: f.spec for key, f in self.fields.items() if f.readable}

    @property
    def default_select(self) -> list[Field]:
        return [f for f in self.fields.values() if f.readable and f.in_default_select]

    def suggest(self, name: str) -> str:
        close = difflib.get_close_matches(name.lower(), list(self.fields), n=1)
        return f"; did you mean {self.fields[close[0]].name}?" if close else ""


def column_of(module: Module, field_: Field) -> ColumnElement[Any]:
    """The SQL expression a field reads from (and filters and sorts on)."""
    if field_.expression is not None:
        return field_.expression()
    if field_.custom:
        document = module.model.custom_fields[field_.name]
        by_type: dict[FieldType, Any] = {
            FieldType.STRING: document.as_string(),
            FieldType.INTEGER: document.as_integer(),
            FieldType.DECIMAL: document.as_float(),
            FieldType.BOOLEAN: document.as_boolean(),
            FieldType.DATE: type_coerce(document.as_string(), IsoText()),
            FieldType.DATETIME: type_coerce(document.as_string(), IsoText()),
        }
        return by_type[field_.type]
    assert field_.attribute is not None
    return getattr(module.model, field_.attribute)


CustomDefinitions = tuple[tuple[str, str, str, int | None], ...]
_VIEWS: dict[tuple[str, CustomDefinitions], ModuleView] = {}
_MAX_VIEWS = 512


def load_view(session: Session, module: Module) -> ModuleView:
    """The module with the organisation's ``CF_…`` fields of this environment added.

    The definitions are read on every request (another process may have added one); the view
    built from them, with its SQL expressions, is shared by every request that sees the same.
    """
    definitions: CustomDefinitions = ()
    if module.custom_fields:
        definitions = tuple(
            (name, data_type, label, max_length)
            for name, data_type, label, max_length in session.execute(
                select(
                    CustomFieldDefinition.name,
                    CustomFieldDefinition.data_type,
                    CustomFieldDefinition.label,
                    CustomFieldDefinition.max_length,
                )
                .where(CustomFieldDefinition.module == module.name)
                .order_by(CustomFieldDefinition.id)
            )
        )
    key = (module.name, definitions)
    view = _VIEWS.get(key)
    if view is None:
        fields = dict(module.field_index)
        for name, data_type, label, max_length in definitions:
            fields[name.lower()] = Field(
                name,
                FieldType(data_type),
                description=label,
                writable=True,
                max_length=max_length,
                custom=True,
            )
        view = ModuleView(module, fields)
        if len(_VIEWS) >= _MAX_VIEWS:
            _VIEWS.clear()
        _VIEWS[key] = view
    return view


def require_access(principal: Principal, module: Module, needed: Access) -> None:
    if module.access(principal).value < needed.value:
        verb = "read" if needed is Access.READ else "write to"
        raise forbidden(
            f"user {principal.login!r} ({principal.role}) may not {verb} the {module.name} module"
        )


def _base(view: ModuleView, principal: Principal, columns: list[ColumnElement[Any]]) -> Select[Any]:
    module = view.module
    statement = select(*columns).select_from(module.model)
    if module.joins is not None:
        statement = module.joins(statement)
    if module.visible_rows is not None:
        rows = module.visible_rows(principal)
        if rows is not None:
            statement = statement.where(rows)
    return statement


def read_page(
    session: Session, principal: Principal, module: Module, params: Mapping[str, str]
) -> dict[str, Any]:
    """``GET /{module}``: one page of records, with the count when ``$count=true``."""
    require_access(principal, module, Access.READ)
    view = load_view(session, module)
    query = parse_query(params, view.specs)
    chosen = [view.fields[s.name.lower()] for s in query.select] if query.select else None
    selected = chosen or view.default_select
    names = [f.name for f in selected]
    statement = _base(view, principal, [view.labelled[n] for n in names])
    if query.filter is not None:
        statement = statement.where(filter_clause(query.filter, view.columns))
    page = (
        statement.order_by(*order_clauses(query.orderby, view.columns, module.model.id))
        .limit(query.top)
        .offset(query.offset)
    )
    results = [dict(zip(names, row, strict=True)) for row in session.execute(page)]
    answer: dict[str, Any] = {"results": results}
    if query.count:
        counted = statement.with_only_columns(func.count()).order_by(None)
        answer |= {
            "pageIndex": query.skip,
            "pageSize": query.top,
            "totalCount": session.scalar(counted) or 0,
        }
    return answer


def read_one(
    session: Session,
    principal: Principal,
    module: Module,
    record_id: int,
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``GET /{module}/{id}``: one record (``$select`` applies), or 404."""
    require_access(principal, module, Access.READ)
    view = load_view(session, module)
    selected = view.default_select
    select_text = _option(params or {}, "$select")
    if select_text is not None:
        query = parse_query({"$select": select_text}, view.specs)
        selected = [view.fields[s.name.lower()] for s in query.select or ()]
    names = [f.name for f in selected]
    statement = _base(view, principal, [view.labelled[n] for n in names])
    row = session.execute(statement.where(module.model.id == record_id)).first()
    if row is None:
        raise not_found(module.name, record_id)
    return dict(zip(names, row, strict=True))


def _option(params: Mapping[str, str], name: str) -> str | None:
    for key, value in params.items():
        if key.lower() == name:
            return value
    return None


# --- writing ---------------------------------------------------------------------------------


@dataclass
class WriteContext:
    """What a module's write hooks see: the request, the validated values and the record."""

    session: Session
    principal: Principal
    registry: Registry
    view: ModuleView
    secret_key: str
    values: dict[str, Any]
    """Validated API values by canonical field name (what the client sent, typed)."""
    creating: bool
    obj: Any = None
    before: dict[str, Any] = field(default_factory=dict)
    """The record's stored values before this update, by attribute."""
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> Module:
        return self.view.module

    def sent(self, name: str) -> bool:
        return name in self.values


def coerce_json_value(field_: Field, value: Any) -> Any:
    """A JSON body value checked against the field's type; ``ValueError`` says what is wrong."""
    if value is None:
        if field_.required or not field_.nullable:
            raise ValueError("may not be null")
        return None
    kind = field_.type
    if kind is FieldType.STRING:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, not {_json_type(value)}")
        if field_.max_length is not None and len(value) > field_.max_length:
            raise ValueError(f"is {len(value)} characters long; the maximum is {field_.max_length}")
        if field_.choices is not None:
            for choice in field_.choices:
                if choice.lower() == value.strip().lower():
                    return choice
            close = difflib.get_close_matches(value, field_.choices, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{value!r} is not one of {', '.join(field_.choices)}{hint}")
        if field_.required and not value.strip():
            raise ValueError("may not be empty")
        return value
    if kind is FieldType.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"must be a whole number, not {_json_type(value)}")
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
    if kind is FieldType.DECIMAL:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"must be a number, not {_json_type(value)}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number (write decimals as 0.2)") from None
        if not math.isfinite(number):
            raise ValueError("must be a finite number")
        return number
    if kind is FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"must be true or false, not {value!r}")
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO-8601 string, not {_json_type(value)}")
    try:
        parsed = isoparse(value.strip())
    except ValueError:
        example = "2025-01-01" if kind is FieldType.DATE else "2025-01-01T10:00:00"
        raise ValueError(f"{value!r} is not a date; write it as {example!r}") from None
    if kind is FieldType.DATE:
        if parsed.time() != dt.time(0) or "T" in value:
            raise ValueError(f"{value!r} has a time part; a date is written as '2025-01-01'")
        return parsed.date()
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _json_type(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _validate(
    view: ModuleView, body: Any, creating: bool, defaults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise FeedError(
            400,
            "invalid_body",
            "the body must be a JSON object of field names and values, e.g. "
            '{"Label": "First Aid, March"}',
        )
    if len(body) > MAX_BODY_FIELDS:
        raise FeedError(400, "invalid_body", f"a record has at most {MAX_BODY_FIELDS} fields")
    problems: list[FieldProblem] = []
    values: dict[str, Any] = {}
    for key, value in body.items():
        field_ = view.fields.get(str(key).lower())
        if field_ is None:
            problems.append(FieldProblem(key, f"unknown field{view.suggest(str(key))}"))
            continue
        if not field_.writable:
            problems.append(FieldProblem(field_.name, "is read-only"))
            continue
        if field_.name in values:
            problems.append(FieldProblem(field_.name, "is given twice (names ignore case)"))
            continue
        try:
            values[field_.name] = coerce_json_value(field_, value)
        except ValueError as exc:
            problems.append(FieldProblem(field_.name, str(exc)))
    for name, value in (defaults or {}).items():
        values.setdefault(name, value)
    if creating:
        problems.extend(
            FieldProblem(f.name, "is required")
            for f in view.fields.values()
            if f.required and f.name not in values and not any(p.field == f.name for p in problems)
        )
    if problems:
        raise invalid(problems)
    return values


def _resolve_references(ctx: WriteContext) -> dict[str, Any]:
    """Stored values by attribute: references checked (and codes turned into IDs), ``to_db``
    applied, uniqueness checked; every problem is collected before answering."""
    session, view = ctx.session, ctx.view
    problems: list[FieldProblem] = []
    stored: dict[str, Any] = {}
    for name, value in ctx.values.items():
        field_ = view.fields[name.lower()]
        if field_.custom:
            continue
        if field_.references is not None and value is not None:
            target = ctx.registry.get(field_.references)
            assert target is not None
            target_view = load_view(session, target) if field_.reference_by else None
            if target_view is not None and field_.reference_by is not None:
                key_column = target_view.columns[field_.reference_by]
            else:
                key_column = target.model.id
            found = session.scalar(
                _base(
                    target_view or ModuleView(target, dict(target.field_index)),
                    ctx.principal,
                    [target.model.id],
                ).where(key_column == value)
            )
            if found is None:
                by = field_.reference_by or "ID"
                problems.append(FieldProblem(name, f"no {target.name} record with {by} {value!r}"))
                continue
            value = found
        if field_.to_db is not None and value is not None:
            try:
                value = field_.to_db(value)
            except ValueError as exc:
                problems.append(FieldProblem(name, str(exc)))
                continue
        if field_.unique and value is not None:
            clash = select(view.module.model.id).where(view.columns[name] == value)
            if ctx.obj is not None and ctx.obj.id is not None:
                clash = clash.where(view.module.model.id != ctx.obj.id)
            holder = session.scalar(clash)
            if holder is not None:
                problems.append(
                    FieldProblem(name, f"{value!r} is already used by {view.module.name} {holder}")
                )
                continue
        assert field_.attribute is not None
        stored[field_.attribute] = value
    if problems:
        raise invalid(problems)
    return stored


def _assign(ctx: WriteContext, stored: dict[str, Any]) -> None:
    for attribute, value in stored.items():
        setattr(ctx.obj, attribute, value)
    custom = {
        name: _iso(value) if isinstance(value, dt.date) else value
        for name, value in ctx.values.items()
        if ctx.view.fields[name.lower()].custom
    }
    if custom:
        ctx.obj.custom_fields = {**(ctx.obj.custom_fields or {}), **custom}


def _flush(session: Session, module: Module) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise conflict(
            f"the {module.name} change clashes with data the platform holds "
            f"({_constraint(exc)}); nothing was changed"
        ) from None


def _constraint(exc: IntegrityError) -> str:
    text_ = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
    return text_[:200]


def create(
    session: Session,
    principal: Principal,
    registry: Registry,
    module: Module,
    body: Any,
    secret_key: str,
    defaults: Mapping[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """``POST /{module}``: returns the new ID and any extra answer members."""
    require_access(principal, module, Access.WRITE)
    if not module.creatable:
        raise FeedError(405, "method_not_allowed", f"records of {module.name} cannot be created")
    view = load_view(session, module)
    values = _validate(view, body, creating=True, defaults=defaults)
    ctx = WriteContext(session, principal, registry, view, secret_key, values, creating=True)
    stored = _resolve_references(ctx)
    if module.create is not None:
        ctx.obj = None
        ctx.before = stored
        new_id = module.create(ctx)
    else:
        ctx.obj = module.model()
        _assign(ctx, stored)
        if module.before_write is not None:
            module.before_write(ctx)
        session.add(ctx.obj)
        _flush(session, module)
        new_id = ctx.obj.id
        record(
            session,
            principal,
            "create",
            module.name,
            new_id,
            {name: (None, value) for name, value in values.items()},
        )
    extra = dict(module.extra_create_answer(ctx)) if module.extra_create_answer else {}
    return new_id, extra


def _load_for_change(
    session: Session, principal: Principal, module: Module, record_id: int, verb: str
) -> Any:
    visible = select(module.model).where(module.model.id == record_id)
    if module.visible_rows is not None and (rows := module.visible_rows(principal)) is not None:
        visible = visible.where(rows)
    obj = session.scalars(visible).first()
    if obj is None:
        raise not_found(module.name, record_id)
    if module.writable_rows is not None and (rows := module.writable_rows(principal)) is not None:
        allowed_ = session.scalar(select(module.model.id).where(module.model.id == record_id, rows))
        if allowed_ is None:
            raise forbidden(
                f"user {principal.login!r} may view but not {verb} {module.name} {record_id}"
            )
    return obj


def update(
    session: Session,
    principal: Principal,
    registry: Registry,
    module: Module,
    record_id: int,
    body: Any,
    secret_key: str,
) -> None:
    """``PUT /{module}/{id}``: change only the fields sent."""
    require_access(principal, module, Access.WRITE)
    if not module.updatable:
        raise FeedError(405, "method_not_allowed", module.read_only_reason)
    view = load_view(session, module)
    values = _validate(view, body, creating=False)
    obj = _load_for_change(session, principal, module, record_id, "change")
    ctx = WriteContext(session, principal, registry, view, secret_key, values, creating=False)
    ctx.obj = obj
    stored = _resolve_references(ctx)
    ctx.before = {attribute: getattr(obj, attribute) for attribute in stored}
    before_custom = dict(obj.custom_fields or {}) if module.custom_fields else {}
    _assign(ctx, stored)
    if module.before_write is not None:
        module.before_write(ctx)
    _flush(session, module)
    changes = {
        name: (_old(view, name, ctx.before, before_custom), value) for name, value in values.items()
    }
    record(session, principal, "update", module.name, record_id, changes)


def _old(view: ModuleView, name: str, before: dict[str, Any], custom: dict[str, Any]) -> Any:
    field_ = view.fields[name.lower()]
    if field_.custom:
        return custom.get(name)
    return before.get(field_.attribute or "")


def upsert(
    session: Session,
    principal: Principal,
    registry: Registry,
    module: Module,
    filter_text: str,
    body: Any,
    secret_key: str,
) -> tuple[bool, int, dict[str, Any]]:
    """``POST /{module}?$upsert=<filter>``: update the one match, or create; returns
    (created, ID, extra answer members). Identical concurrent upserts are serialised, so
    they create one record between them."""
    require_access(principal, module, Access.WRITE)
    view = load_view(session, module)
    node = parse_filter(filter_text, view.specs, option="$upsert")
    _serialise(session, principal, module, filter_text)
    matches = session.scalars(
        _base(view, principal, [module.model.id])
        .where(filter_clause(node, view.columns))
        .order_by(module.model.id)
        .limit(2)
    ).all()
    if len(matches) > 1:
        raise FeedError(
            400,
            "ambiguous_upsert",
            f"the $upsert filter matches more than one {module.name} record (IDs {matches[0]}, "
            f"{matches[1]}, …); make it identify exactly one, or use PUT with an ID",
        )
    if matches:
        update(session, principal, registry, module, matches[0], body, secret_key)
        return False, matches[0], {}
    defaults = _equalities(node, view)
    new_id, extra = create(session, principal, registry, module, body, secret_key, defaults)
    return True, new_id, extra


def _equalities(node: Node, view: ModuleView) -> dict[str, Any]:
    """``Field eq value`` terms joined by ``and``: a created record gets those values, so the
    same upsert finds it next time."""
    terms = node.operands if isinstance(node, BoolOp) and node.op == "and" else (node,)
    found: dict[str, Any] = {}
    for term in terms:
        if isinstance(term, Comparison) and term.op == "eq" and term.value is not None:
            field_ = view.fields.get(term.field.name.lower())
            if field_ is not None and field_.writable and field_.references is None:
                value = term.value
                found[field_.name] = value
    return found


def _serialise(session: Session, principal: Principal, module: Module, filter_text: str) -> None:
    """Make upserts with the same filter take turns. SQLite writers already hold the database
    lock from BEGIN IMMEDIATE; PostgreSQL takes a transaction-scoped advisory lock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(
        f"{principal.organisation_id}|{principal.environment.value}|{module.name}|"
        f"{filter_text.strip().lower()}".encode(),
        digest_size=8,
    ).digest()
    session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"),
        {"key": int.from_bytes(digest, "big", signed=True)},
    )


def delete(
    session: Session,
    principal: Principal,
    registry: Registry,
    module: Module,
    record_id: int,
    secret_key: str,
) -> bool:
    """``DELETE /{module}/{id}``; returns False when the record was only marked deleted."""
    require_access(principal, module, Access.WRITE)
    if not module.deletable:
        raise FeedError(405, "method_not_allowed", module.read_only_reason)
    view = load_view(session, module)
    obj = _load_for_change(session, principal, module, record_id, "delete")
    if module.soft_delete is not None and module.soft_delete(obj):
        _flush(session, module)
        record(session, principal, "update", module.name, record_id, {"Status": ("", "Deleted")})
        return False
    held = [
        f"{count} {blocker.description}"
        for blocker in module.blockers
        if (count := blocker.count(session, record_id))
    ]
    if held:
        raise conflict(
            f"{module.name} {record_id} cannot be deleted: {' and '.join(held)} refer to it; "
            "delete or move those first"
        )
    ctx = WriteContext(session, principal, registry, view, secret_key, {}, creating=False)
    ctx.obj = obj
    if module.before_delete is not None:
        module.before_delete(ctx)
    session.delete(obj)
    _flush(session, module)
    record(session, principal, "delete", module.name, record_id)
    return True
