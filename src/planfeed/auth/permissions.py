"""Every role and permission check of planfeed lives here, for the APIs and the web pages alike."""

from __future__ import annotations

import enum

from planfeed.accounts.models import Role
from planfeed.auth.principal import Principal


class Action(enum.StrEnum):
    MANAGE_API_KEYS = "manage API keys"
    MANAGE_USERS = "manage users"
    MANAGE_TEAMS = "manage teams"
    MANAGE_TRAINING = "manage training"
    MANAGE_PLANS = "manage plans"
    VIEW_ALL_PLANS = "view every plan"
    SUBMIT_BATCH = "submit batch updates"
    VIEW_JOBS = "view batch jobs"
    RESET_SANDBOX = "reset the sandbox"


_GRANTS: dict[Role, frozenset[Action]] = {
    Role.SUPER_ADMIN: frozenset(Action),
    Role.ADMIN: frozenset(Action) - {Action.MANAGE_API_KEYS, Action.RESET_SANDBOX},
    Role.USER: frozenset({Action.SUBMIT_BATCH, Action.VIEW_JOBS}),
}


class PermissionDenied(Exception):
    """A 403: the caller is known but may not do this."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def allowed(principal: Principal, action: Action) -> bool:
    try:
        role = Role(principal.role)
    except ValueError:
        return False
    return action in _GRANTS[role]


def require(principal: Principal, action: Action) -> None:
    if not allowed(principal, action):
        raise PermissionDenied(
            f"user {principal.login!r} ({principal.role}) may not {action.value}"
        )
