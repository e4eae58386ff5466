"""Recording writes in the audit trail, in the same transaction as the write itself."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from planfeed.audit.models import AuditEvent
from planfeed.auth.principal import Principal

_SECRET_FIELDS = frozenset({"password", "password_hash", "key_hash", "token_hash"})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def record(
    session: Session,
    actor: Principal,
    action: str,
    entity: str,
    entity_id: object,
    changes: Mapping[str, tuple[Any, Any]] | None = None,
) -> AuditEvent:
    """Add an audit event; ``changes`` maps a field to its (old, new) values.

    Secrets are never written: their values are replaced by a marker.
    """
    clean = {
        field: {"old": "<secret>", "new": "<secret>"}
        if field in _SECRET_FIELDS
        else {"old": _jsonable(old), "new": _jsonable(new)}
        for field, (old, new) in (changes or {}).items()
    }
    event = AuditEvent(
        organisation_id=actor.organisation_id,
        environment=actor.environment.value,
        actor_user_id=actor.user_id,
        actor_login=actor.login,
        credential_kind=actor.credential_kind,
        credential_id=actor.credential_id,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        changes=clean,
    )
    session.add(event)
    return event
