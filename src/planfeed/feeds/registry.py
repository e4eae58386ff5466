"""The feeds module registry: every module and field is declared once, here.

The declarations drive everything the feeds do with a module: the query language's field
allow-list, the SQL it reads, write validation, the permission checks and the help pages.
Module-specific rules (a booking takes a space, a progress update moves its item) are hooks on
the declaration; the query and write logic itself is generic (:mod:`planfeed.feeds.engine`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select

from planfeed.auth.permissions import Action, allowed
from planfeed.auth.principal import Principal
from planfeed.feeds.fields import FieldSpec, FieldType

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from planfeed.feeds.engine import WriteContext


class Access(enum.Enum):
    """What a caller may do with a module as a whole (rows may be narrowed further)."""

    NONE = 0
    READ = 1
    WRITE = 2


@dataclass(frozen=True)
class Field:
    """One field of a module, as the API names and types it."""

    name: str
    type: FieldType
    attribute: str | None = None
    """The model attribute read and written; ``None`` for computed fields."""
    expression: Callable[[], ColumnElement[Any]] | None = None
    """The SQL read expression when it is not simply ``attribute`` (computed or joined)."""
    description: str = ""
    writable: bool = False
    required: bool = False
    max_length: int | None = None
    filterable: bool = True
    sortable: bool = True
    nullable: bool = True
    readable: bool = True
    in_default_select: bool = True
    choices: tuple[str, ...] | None = None
    """Allowed values, matched case-insensitively and stored with this spelling."""
    references: str | None = None
    """The module whose ID this field holds; writes check that the record exists."""
    reference_by: str | None = None
    """With ``references``: the field of that module this value is matched against (e.g. a
    course's code), instead of its ID."""
    unique: bool = False
    """Unique in the organisation and environment; writes check it and name the holder."""
    to_db: Callable[[Any], Any] | None = None
    """Converts a validated API value into the stored one (e.g. a status label into its code)."""
    custom: bool = False

    @property
    def spec(self) -> FieldSpec:
        return FieldSpec(
            name=self.name,
            type=self.type,
            filterable=self.filterable and self.readable,
            sortable=self.sortable and self.readable,
            nullable=self.nullable,
        )


AccessRule = Callable[[Principal], Access]
RowFilter = Callable[[Principal], ColumnElement[bool] | None]
CreateHook = Callable[["WriteContext"], int]
WriteHook = Callable[["WriteContext"], None]


@dataclass(frozen=True)
class Blocker:
    """Rows of another table that keep a record from being deleted (a 409 names them)."""

    description: str
    count: Callable[[Session, int], int]


@dataclass(frozen=True)
class Module:
    """A feeds module: a model, its fields, who may use it, and its domain rules."""

    name: str
    """Canonical lower-case name, as in the data path (``coursedate``)."""
    display_name: str
    """The camelCase help-path spelling (``courseDate``)."""
    model: type[Any]
    id_field: str
    fields: tuple[Field, ...]
    description: str
    access: AccessRule
    aliases: tuple[str, ...] = ()
    joins: Callable[[Select[Any]], Select[Any]] | None = None
    """Joins every read needs (for fields that come from another table)."""
    visible_rows: RowFilter | None = None
    """Narrows reads to the rows the caller may see (others answer 404)."""
    writable_rows: RowFilter | None = None
    """Narrows updates and deletes to the rows the caller may change (others answer 403)."""
    custom_fields: bool = True
    creatable: bool = True
    updatable: bool = True
    deletable: bool = True
    create: CreateHook | None = None
    """Replaces the generic insert (the record is made by a domain service)."""
    before_write: WriteHook | None = None
    """Domain checks and side effects of a create or update, before the row is written."""
    before_delete: WriteHook | None = None
    soft_delete: Callable[[Any], bool] | None = None
    """Returns True when it soft-deleted the object (the user module's first DELETE)."""
    blockers: tuple[Blocker, ...] = ()
    read_only_reason: str = ""
    extra_create_answer: Callable[[WriteContext], Mapping[str, Any]] | None = None
    """Members added to the 201 answer (the new API key, shown only here)."""
    field_index: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_index", {f.name.lower(): f for f in self.fields})

    @property
    def id(self) -> Field:
        return self.field_index[self.id_field.lower()]


def role_access(read: Action | None, write: Action | None) -> AccessRule:
    """Module access from two role grants; ``read=None`` means every signed-in user may read."""

    def rule(principal: Principal) -> Access:
        if write is not None and allowed(principal, write):
            return Access.WRITE
        if read is None or allowed(principal, read):
            return Access.READ
        return Access.NONE

    return rule


class Registry:
    """Modules by name and alias, case-insensitively."""

    def __init__(self, modules: tuple[Module, ...]) -> None:
        self.modules = modules
        self._by_name: dict[str, Module] = {}
        for module in modules:
            for name in (module.name, module.display_name, *module.aliases):
                self._by_name[name.lower()] = module

    def get(self, name: str) -> Module | None:
        return self._by_name.get(name.lower())

    def names(self) -> list[str]:
        return [module.name for module in self.modules]
