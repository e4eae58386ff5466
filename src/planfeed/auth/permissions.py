"""Every role and permission check of planfeed lives here, for the APIs and the web pages alike."""

from __future__ import annotations

import enum

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from planfeed.accounts.models import Role, TeamMember
from planfeed.auth.principal import Principal
from planfeed.plans.models import PlanAccess


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
    MANAGE_SUPER_ADMINS = "grant or remove the SuperAdmin role"


_GRANTS: dict[Role, frozenset[Action]] = {
    Role.SUPER_ADMIN: frozenset(Action),
    Role.ADMIN: frozenset(Action)
    - {Action.MANAGE_API_KEYS, Action.RESET_SANDBOX, Action.MANAGE_SUPER_ADMINS},
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


def require_role_change(principal: Principal, before: str | None, after: str) -> None:
    """Managing users includes roles, but only a SuperAdmin grants or removes SuperAdmin (and
    only a SuperAdmin deactivates one: pass the user's role as both ``before`` and ``after``)."""
    require(principal, Action.MANAGE_USERS)
    if Role.SUPER_ADMIN.value in (before, after):
        require(principal, Action.MANAGE_SUPER_ADMINS)


def role_change_allowed(principal: Principal, before: str | None, after: str) -> bool:
    try:
        require_role_change(principal, before, after)
    except PermissionDenied:
        return False
    return True


class PlanRole(enum.IntEnum):
    """What a caller may do with one plan; higher includes lower."""

    NONE = 0
    VIEWER = 1
    ADMIN = 2


def plan_role(session: Session, principal: Principal, plan_id: int) -> PlanRole:
    """Admins and SuperAdmins administer every plan; others need a grant, directly or by team."""
    if allowed(principal, Action.MANAGE_PLANS):
        return PlanRole.ADMIN
    if principal.user_id is None:
        return PlanRole.NONE
    team_ids = select(TeamMember.team_id).where(TeamMember.user_id == principal.user_id)
    grants = session.scalars(
        select(PlanAccess.is_admin).where(
            PlanAccess.plan_id == plan_id,
            or_(PlanAccess.user_id == principal.user_id, PlanAccess.team_id.in_(team_ids)),
        )
    ).all()
    if not grants:
        return PlanRole.NONE
    return PlanRole.ADMIN if any(grants) else PlanRole.VIEWER


def viewable_plan_ids(principal: Principal) -> Select[tuple[int]] | None:
    """A subquery of the plan ids the caller may view, or ``None`` for "every plan"."""
    if allowed(principal, Action.VIEW_ALL_PLANS):
        return None
    team_ids = select(TeamMember.team_id).where(TeamMember.user_id == principal.user_id)
    return select(PlanAccess.plan_id).where(
        or_(PlanAccess.user_id == principal.user_id, PlanAccess.team_id.in_(team_ids))
    )


def editable_plan_ids(principal: Principal) -> Select[tuple[int]] | None:
    """A subquery of the plan ids the caller may edit, or ``None`` for "every plan"."""
    if allowed(principal, Action.MANAGE_PLANS):
        return None
    team_ids = select(TeamMember.team_id).where(TeamMember.user_id == principal.user_id)
    return select(PlanAccess.plan_id).where(
        PlanAccess.is_admin.is_(True),
        or_(PlanAccess.user_id == principal.user_id, PlanAccess.team_id.in_(team_ids)),
    )
