"""Administration pages: API keys (SuperAdmin) and users (Admin and SuperAdmin).

Every change goes through :mod:`planfeed.accounts.service` (validation and audit records) after
the permission check of :mod:`planfeed.auth.permissions`; forms post back with the CSRF token.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, Response

from planfeed.accounts.models import ApiKey, Role, User, UserStatus
from planfeed.accounts.service import (
    AccountError,
    create_api_key,
    create_user,
    delete_api_key,
    list_api_keys,
    set_api_key_enabled,
    set_user_role,
    set_user_status,
    update_api_key,
)
from planfeed.auth.permissions import (
    Action,
    allowed,
    require,
    require_role_change,
    role_change_allowed,
)
from planfeed.auth.principal import Principal
from planfeed.feeds.hooks import MIN_PASSWORD
from planfeed.web.common import (
    CheckedForm,
    PagePrincipal,
    PageSession,
    field,
    render,
    see_other,
    state_of,
)

router = APIRouter(include_in_schema=False, prefix="/admin")

KEY_NOTICES = {
    "enabled": "The key is enabled.",
    "disabled": "The key is disabled: calls with it are refused from now on.",
    "updated": "The key's expiry date and IP whitelist are saved.",
    "deleted": "The key is deleted: calls with it are refused from now on.",
}
USER_NOTICES = {
    "created": "The user is created.",
    "role": "The role is changed.",
    "deactivated": "The user is deactivated: they can no longer sign in or use keys.",
    "activated": "The user is active again.",
}


def _date(text: str, field_name: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise AccountError(field_name, f"{text!r} is not a date; use YYYY-MM-DD") from None


def _whitelist(text: str) -> list[str]:
    return [part for chunk in text.splitlines() for part in chunk.split(",")]


# --- API keys ----------------------------------------------------------------------------------


def _keys_page(
    request: Request,
    session: Session,
    *,
    status_code: int = 200,
    error: AccountError | None = None,
    values: dict[str, str] | None = None,
    new_key: str | None = None,
    new_key_row: ApiKey | None = None,
    notice: str | None = None,
    edit_error: tuple[int, AccountError] | None = None,
) -> HTMLResponse:
    users = session.scalars(
        select(User).where(User.status == UserStatus.ACTIVE.value).order_by(User.login)
    ).all()
    return render(
        request,
        "admin/api_keys.html",
        status_code=status_code,
        keys=list_api_keys(session),
        users=users,
        error=error,
        values=values or {"enabled": "on"},
        new_key=new_key,
        new_key_row=new_key_row,
        notice=KEY_NOTICES.get(notice or ""),
        edit_error=edit_error,
        today=dt.date.today(),
    )


@router.get("/api-keys", response_class=HTMLResponse)
def api_keys(
    request: Request, principal: PagePrincipal, session: PageSession, done: str | None = None
) -> Response:
    require(principal, Action.MANAGE_API_KEYS)
    return _keys_page(request, session, notice=done)


@router.post("/api-keys", response_class=HTMLResponse)
def add_api_key(
    request: Request, principal: PagePrincipal, session: PageSession, form: CheckedForm
) -> Response:
    """Create a key; the answer is the page itself with the key, shown this once."""
    require(principal, Action.MANAGE_API_KEYS)
    values = {
        name: field(form, name)
        for name in ("label", "user_id", "enabled", "expiration_date", "ip_whitelist")
    }
    try:
        user = session.get(User, int(values["user_id"])) if values["user_id"].isdigit() else None
        if user is None or not user.is_active:
            raise AccountError("user_id", "choose the active user the key acts as")
        key, plaintext = create_api_key(
            session,
            principal,
            state_of(request).settings.secret_key,
            user=user,
            label=values["label"],
            environment=principal.environment,
            expires_on=_date(values["expiration_date"], "expiration_date"),
            ip_allowlist=_whitelist(values["ip_whitelist"]),
            enabled=values["enabled"] == "on",
        )
    except AccountError as exc:
        session.rollback()
        return _keys_page(request, session, status_code=400, error=exc, values=values)
    return _keys_page(request, session, new_key=plaintext, new_key_row=key)


def _key_action(principal: Principal, session: Session, key_id: int, action: str) -> str:
    if action in ("enable", "disable"):
        set_api_key_enabled(session, principal, key_id, action == "enable")
        return f"{action}d"
    if action == "delete":
        delete_api_key(session, principal, key_id)
        return "deleted"
    raise AccountError("action", f"{action!r} is not an action; use enable, disable or delete")


@router.post("/api-keys/{key_id}/state")
def change_api_key(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    form: CheckedForm,
    key_id: int,
) -> Response:
    """Enable, disable or delete a key."""
    require(principal, Action.MANAGE_API_KEYS)
    try:
        done = _key_action(principal, session, key_id, field(form, "action"))
    except AccountError as exc:
        session.rollback()
        return _keys_page(request, session, status_code=400, error=exc)
    return see_other(f"/admin/api-keys?done={done}#key-{key_id}")


@router.post("/api-keys/{key_id}", response_class=HTMLResponse)
def edit_api_key(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    form: CheckedForm,
    key_id: int,
) -> Response:
    """Change the expiry date and the IP whitelist."""
    require(principal, Action.MANAGE_API_KEYS)
    try:
        update_api_key(
            session,
            principal,
            key_id,
            expires_on=_date(field(form, "expiration_date"), "expiration_date"),
            ip_allowlist=_whitelist(field(form, "ip_whitelist")),
        )
    except AccountError as exc:
        session.rollback()
        return _keys_page(request, session, status_code=400, edit_error=(key_id, exc))
    return see_other(f"/admin/api-keys?done=updated#key-{key_id}")


# --- users -------------------------------------------------------------------------------------


def _assignable_roles(principal: Principal) -> list[str]:
    return [
        role.value
        for role in Role
        if role is not Role.SUPER_ADMIN or allowed(principal, Action.MANAGE_SUPER_ADMINS)
    ]


def _users_page(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    status_code: int = 200,
    error: AccountError | None = None,
    values: dict[str, str] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    users = session.scalars(select(User).order_by(User.login)).all()
    return render(
        request,
        "admin/users.html",
        status_code=status_code,
        users=users,
        roles=_assignable_roles(principal),
        changeable={
            u.id
            for u in users
            if u.id != principal.user_id and role_change_allowed(principal, u.role, u.role)
        },
        error=error,
        values=values or {"role": Role.USER.value},
        notice=USER_NOTICES.get(notice or ""),
        min_password=MIN_PASSWORD,
    )


@router.get("/users", response_class=HTMLResponse)
def users(
    request: Request, principal: PagePrincipal, session: PageSession, done: str | None = None
) -> Response:
    require(principal, Action.MANAGE_USERS)
    return _users_page(request, principal, session, notice=done)


def _role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise AccountError(
            "role", f"{text!r} is not a role; use {', '.join(r.value for r in Role)}"
        ) from None


@router.post("/users", response_class=HTMLResponse)
def add_user(
    request: Request, principal: PagePrincipal, session: PageSession, form: CheckedForm
) -> Response:
    """Create a user with a first password, to hand over in person."""
    require(principal, Action.MANAGE_USERS)
    values = {
        name: field(form, name) for name in ("login", "email", "forenames", "surname", "role")
    }
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    try:
        role = _role(values["role"])
        require_role_change(principal, None, role.value)
        if len(password) < MIN_PASSWORD:
            raise AccountError(
                "password", f"the first password must be at least {MIN_PASSWORD} characters"
            )
        create_user(
            session,
            principal,
            login=values["login"],
            email=values["email"],
            password=password,
            role=role,
            forenames=values["forenames"],
            surname=values["surname"],
        )
    except AccountError as exc:
        session.rollback()
        return _users_page(request, principal, session, status_code=400, error=exc, values=values)
    return see_other("/admin/users?done=created")


@router.post("/users/{user_id}", response_class=HTMLResponse)
def change_user(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    form: CheckedForm,
    user_id: int,
) -> Response:
    """Change a user's role, or deactivate / reactivate them."""
    require(principal, Action.MANAGE_USERS)
    action = field(form, "action")
    try:
        user = session.get(User, user_id)
        if user is None:
            raise AccountError("id", f"no user with id {user_id} in this organisation")
        if action == "role":
            role = _role(field(form, "role"))
            require_role_change(principal, user.role, role.value)
            set_user_role(session, principal, user_id, role)
            done = "role"
        elif action in ("deactivate", "activate"):
            require_role_change(principal, user.role, user.role)
            status = UserStatus.INACTIVE if action == "deactivate" else UserStatus.ACTIVE
            set_user_status(session, principal, user_id, status)
            done = f"{action}d"
        else:
            raise AccountError("action", f"{action!r} is not an action")
    except AccountError as exc:
        session.rollback()
        return _users_page(request, principal, session, status_code=400, error=exc)
    return see_other(f"/admin/users?done={done}#user-{user_id}")
