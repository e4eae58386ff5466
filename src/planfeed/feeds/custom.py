"""Defining an organisation's custom ``CF_…`` fields on a feeds module."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from planfeed.audit.service import record
from planfeed.auth.principal import Principal
from planfeed.custom_fields.models import CustomFieldDefinition
from planfeed.feeds.fields import FieldType
from planfeed.feeds.modules import REGISTRY

CUSTOM_NAME = re.compile(r"^CF_[A-Za-z0-9_]{1,61}$")


class CustomFieldError(ValueError):
    """A definition that cannot be made; the message says what would be right."""


def define_custom_field(
    session: Session,
    actor: Principal,
    *,
    module: str,
    name: str,
    data_type: str,
    label: str,
    max_length: int | None = None,
) -> CustomFieldDefinition:
    """Add a ``CF_…`` field to ``module`` in the session's organisation and environment."""
    found = REGISTRY.get(module)
    if found is None or not found.custom_fields:
        usable = ", ".join(m.name for m in REGISTRY.modules if m.custom_fields)
        raise CustomFieldError(f"{module!r} takes no custom fields; these do: {usable}")
    if name[:3].lower() == "cf_":
        name = "CF_" + name[3:]
    if not CUSTOM_NAME.match(name):
        raise CustomFieldError(
            f"{name!r} is not a custom field name: start with CF_ and use letters, digits or _"
        )
    try:
        kind = FieldType(data_type.lower())
    except ValueError:
        kinds = ", ".join(t.value for t in FieldType)
        raise CustomFieldError(f"{data_type!r} is not a type; use one of {kinds}") from None
    if max_length is not None and (kind is not FieldType.STRING or max_length < 1):
        raise CustomFieldError("a maximum length applies to string fields only, and is >= 1")
    taken = session.scalar(
        select(CustomFieldDefinition.id).where(
            CustomFieldDefinition.module == found.name,
            CustomFieldDefinition.name.ilike(name),
        )
    )
    if taken is not None or name.lower() in found.field_index:
        raise CustomFieldError(f"{found.name} already has a field named {name}")
    definition = CustomFieldDefinition(
        module=found.name, name=name, data_type=kind.value, label=label, max_length=max_length
    )
    session.add(definition)
    session.flush()
    record(
        session,
        actor,
        "create",
        "customfield",
        definition.id,
        {"module": (None, found.name), "name": (None, name), "type": (None, kind.value)},
    )
    return definition
