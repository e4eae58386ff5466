"""The resolved caller of a request or job: organisation, environment, user, role, credential."""

from __future__ import annotations

from dataclasses import dataclass

from planfeed.db.base import Environment
from planfeed.db.scope import Scope


@dataclass(frozen=True, slots=True)
class Principal:
    organisation_id: int
    organisation_name: str
    environment: Environment
    user_id: int | None
    login: str
    role: str
    credential_kind: str  # "api_key", "token", "password", "session", "cli", "system"
    credential_id: int | None = None

    @property
    def scope(self) -> Scope:
        return Scope(self.organisation_id, self.environment)


def system_principal(
    organisation_id: int, organisation_name: str, environment: Environment, login: str = "system"
) -> Principal:
    """The actor for writes made by the admin CLI or the demo loader, not by a user request."""
    return Principal(
        organisation_id=organisation_id,
        organisation_name=organisation_name,
        environment=environment,
        user_id=None,
        login=login,
        role="SuperAdmin",
        credential_kind="cli",
    )
