"""Account operations used by the admin CLI, the APIs and the demo loader.

Functions take a session bound to the caller's scope (see ``planfeed.db.scope``) and never
commit: the request, job or CLI command that called them owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import anyio
from sqlalchemy import case, literal, select, update
from sqlalchemy.orm import Session, sessionmaker

from planfeed.accounts.credentials import (
    generate_api_key,
    generate_token,
    hash_password,
    hash_secret,
    verify_password,
    visible_prefix,
)
from planfeed.accounts.models import AccessToken, ApiKey, Role, User, UserStatus
from planfeed.audit.service import record
from planfeed.auth.principal import Principal
from planfeed.db.base import Environment, Tenant, utcnow
from planfeed.db.scope import Scope, bind_scope

_ORG_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_LOGIN = re.compile(r"^[A-Za-z0-9._@+-]{1,100}$")
MAX_LOGIN_LENGTH = 100


class AccountError(ValueError):
    """Bad input to an account operation; the message names the field and the fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def create_organisation(session: Session, name: str, display_name: str | None = None) -> Tenant:
    if not _ORG_NAME.match(name):
        raise AccountError(
            "name",
            f"{name!r} is not a valid platform name: use lower-case letters, digits and "
            "hyphens (it is also the subdomain)",
        )
    if session.scalar(select(Tenant).where(Tenant.name == name)) is not None:
        raise AccountError("name", f"an organisation named {name!r} already exists")
    organisation = Tenant(name=name, display_name=display_name or name)
    session.add(organisation)
    session.flush()
    return organisation


def get_organisation(session: Session, name: str) -> Tenant | None:
    return session.scalar(select(Tenant).where(Tenant.name == name))


def parse_allowlist(entries: Iterable[str]) -> list[str]:
    """Normalise an IP allowlist of addresses and CIDR ranges; reject anything else."""
    cleaned: list[str] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise AccountError(
                "ip_whitelist",
                f"{entry!r} is not an IP address or CIDR range (e.g. 203.0.113.7 or 10.0.0.0/24)",
            ) from exc
        cleaned.append(str(network))
    return cleaned


def address_allowed(allowlist: Sequence[str], address: str | None) -> bool:
    """True when the list is empty (any address) or ``address`` falls in one of its ranges."""
    if not allowlist:
        return True
    if address is None:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(entry, strict=False) for entry in allowlist)


def create_user(
    session: Session,
    actor: Principal,
    *,
    login: str,
    email: str,
    password: str | None = None,
    role: Role = Role.USER,
    forenames: str = "",
    surname: str = "",
) -> User:
    if not _LOGIN.match(login):
        raise AccountError(
            "login", f"{login!r} is not a valid user ID: 1-100 letters, digits or . _ @ + -"
        )
    if "@" not in email:
        raise AccountError("email", f"{email!r} is not an email address")
    if session.scalar(select(User.id).where(User.login == login)) is not None:
        raise AccountError("login", f"a user with user ID {login!r} already exists")
    user = User(
        login=login,
        email=email,
        forenames=forenames,
        surname=surname,
        role=role.value,
        status=UserStatus.ACTIVE.value,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    session.flush()
    record(
        session,
        actor,
        "create",
        "user",
        user.id,
        {"login": (None, login), "email": (None, email), "role": (None, role.value)},
    )
    return user


def find_user(session: Session, login: str) -> User | None:
    return session.scalar(select(User).where(User.login == login))


def create_api_key(
    session: Session,
    actor: Principal,
    secret_key: str,
    *,
    user: User,
    label: str,
    environment: Environment,
    expires_on: dt.date | None = None,
    ip_allowlist: Iterable[str] = (),
    enabled: bool = True,
) -> tuple[ApiKey, str]:
    """Create a key for ``user``; returns the row and the plaintext key, shown once."""
    if not label.strip():
        raise AccountError("label", "a key needs a label, e.g. 'Finance System - Xero'")
    if expires_on is not None and expires_on < dt.datetime.now(dt.UTC).date():
        raise AccountError("expiration_date", f"{expires_on} is in the past")
    plaintext = generate_api_key(environment)
    key = ApiKey(
        label=label.strip(),
        user_id=user.id,
        enabled=enabled,
        expires_on=expires_on,
        ip_allowlist=parse_allowlist(ip_allowlist),
        prefix=visible_prefix(plaintext),
        key_hash=hash_secret(secret_key, plaintext),
        created_by_id=actor.user_id,
    )
    session.add(key)
    session.flush()
    record(
        session,
        actor,
        "create",
        "apikey",
        key.id,
        {"label": (None, key.label), "user": (None, user.login), "enabled": (None, enabled)},
    )
    return key, plaintext


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def set_api_key_enabled(session: Session, actor: Principal, key_id: int, enabled: bool) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.environment != actor.environment:
        raise AccountError("id", f"no API key with id {key_id} in this organisation")
    if key.enabled != enabled:
        record(session, actor, "update", "apikey", key.id, {"enabled": (key.enabled, enabled)})
        key.enabled = enabled
    return key


def _key_in_scope(session: Session, actor: Principal, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.environment != actor.environment:
        raise AccountError("id", f"no API key with id {key_id} in this organisation")
    return key


def update_api_key(
    session: Session,
    actor: Principal,
    key_id: int,
    *,
    expires_on: dt.date | None,
    ip_allowlist: Iterable[str],
) -> ApiKey:
    """Change a key's expiry date and IP whitelist (the key itself never changes)."""
    key = _key_in_scope(session, actor, key_id)
    if expires_on is not None and expires_on < dt.datetime.now(dt.UTC).date():
        raise AccountError("expiration_date", f"{expires_on} is in the past")
    allowlist = parse_allowlist(ip_allowlist)
    changes: dict[str, tuple[object, object]] = {}
    if key.expires_on != expires_on:
        changes["expires_on"] = (key.expires_on, expires_on)
        key.expires_on = expires_on
    if list(key.ip_allowlist or []) != allowlist:
        changes["ip_allowlist"] = (list(key.ip_allowlist or []), allowlist)
        key.ip_allowlist = allowlist
    if changes:
        record(session, actor, "update", "apikey", key.id, changes)
    return key


def delete_api_key(session: Session, actor: Principal, key_id: int) -> None:
    """Remove a key for good; callers using it get ``unknown_key`` from then on."""
    key = _key_in_scope(session, actor, key_id)
    record(session, actor, "delete", "apikey", key.id, {"label": (key.label, None)})
    session.delete(key)
    session.flush()


def _user_in_scope(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise AccountError("id", f"no user with id {user_id} in this organisation")
    return user


def set_user_role(session: Session, actor: Principal, user_id: int, role: Role) -> User:
    """Change a user's role; nobody changes their own (so the last SuperAdmin stays one)."""
    user = _user_in_scope(session, user_id)
    if user.id == actor.user_id:
        raise AccountError("role", "you cannot change your own role; ask another administrator")
    if user.role != role.value:
        record(session, actor, "update", "user", user.id, {"role": (user.role, role.value)})
        user.role = role.value
    return user


def set_user_status(session: Session, actor: Principal, user_id: int, status: UserStatus) -> User:
    """Deactivate or reactivate a user; an inactive user cannot sign in or use keys or tokens."""
    user = _user_in_scope(session, user_id)
    if user.id == actor.user_id and status != UserStatus.ACTIVE:
        raise AccountError("status", "you cannot deactivate your own account")
    if user.status != status.value:
        record(session, actor, "update", "user", user.id, {"status": (user.status, status.value)})
        user.status = status.value
    return user


def issue_token(
    session: Session, secret_key: str, user: User, lifetime_seconds: int
) -> tuple[AccessToken, str]:
    """A new bearer token for ``user``, recorded in the audit trail; only its hash is stored."""
    plaintext = generate_token()
    token = AccessToken(
        user_id=user.id,
        token_hash=hash_secret(secret_key, plaintext),
        expires_at=utcnow() + dt.timedelta(seconds=lifetime_seconds),
    )
    session.add(token)
    session.flush()
    actor = Principal(  # the user, signed in with a password; the audit trail needs no org name
        organisation_id=user.organisation_id,
        organisation_name="",
        environment=Environment(user.environment),
        user_id=user.id,
        login=user.login,
        role=user.role,
        credential_kind="password",
    )
    record(session, actor, "create", "token", token.id, {"expires_at": (None, token.expires_at)})
    return token, plaintext


# --- Signing in with a user ID and password (the feeds token endpoint) -------------------------


def could_be_login(login: str) -> bool:
    """False for text no stored user ID can equal (too long, or a NUL PostgreSQL cannot take)."""
    return 0 < len(login) <= MAX_LOGIN_LENGTH and "\x00" not in login


class AmbiguousLogin(Exception):
    """Without a subdomain, the user ID exists on more than one platform."""


def organisation_for_login(session: Session, login: str, environment: Environment) -> Tenant | None:
    """The organisation a sign-in without a subdomain means, or ``None`` when there is none.

    The only organisation when there is just one; otherwise the one organisation in which
    ``login`` exists in ``environment``. Raises :class:`AmbiguousLogin` when there are several.
    ``session`` must be unscoped: this looks across organisations.
    """
    organisations = session.scalars(select(Tenant).order_by(Tenant.id).limit(2)).all()
    if len(organisations) <= 1:
        return organisations[0] if organisations else None
    matches = session.scalars(
        select(Tenant)
        .join(User, User.organisation_id == Tenant.id)
        .where(User.login == login, User.environment == environment.value)
        .order_by(Tenant.id)
        .limit(2)
    ).all()
    if len(matches) > 1:
        raise AmbiguousLogin(login)
    return matches[0] if matches else None


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How repeated failed sign-ins of one user ID are slowed and then locked out."""

    slow_after: int = 3
    lock_after: int = 5
    lock_seconds: int = 15 * 60
    delay_seconds: float = 0.5
    max_delay_seconds: float = 2.0

    def delay_for(self, failures: int) -> float:
        """The wait before checking an attempt that follows ``failures`` consecutive failures."""
        if failures < self.slow_after:
            return 0.0
        extra = min(failures - self.slow_after, 16)
        return min(self.delay_seconds * 2**extra, self.max_delay_seconds)


class LoginRejected(Exception):
    """A refused sign-in. ``reason`` is ``invalid``, ``locked`` or ``inactive``."""

    def __init__(self, reason: str, message: str, locked_until: dt.datetime | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.locked_until = locked_until

    @property
    def retry_after_seconds(self) -> int | None:
        if self.locked_until is None:
            return None
        return max(1, math.ceil((self.locked_until - utcnow()).total_seconds()))


WRONG_CREDENTIALS = "the user ID or password is wrong"


def _locked(until: dt.datetime, failures: int | None = None) -> LoginRejected:
    count = f"{failures} " if failures else "too many "
    return LoginRejected(
        "locked",
        f"the account is locked after {count}failed sign-ins until "
        f"{until.astimezone(dt.UTC).isoformat(timespec='seconds').replace('+00:00', 'Z')}; "
        "try again then",
        locked_until=until,
    )


@dataclass(frozen=True, slots=True)
class _Attempt:
    user_id: int
    password_hash: str | None
    failures_before: int
    locked_until: dt.datetime | None


def _begin_attempt(
    writer: sessionmaker[Session], scope: Scope, login: str, policy: LoginPolicy
) -> _Attempt | None:
    """Count the attempt as a failure before the password is checked, in its own transaction.

    Counting first (one atomic ``UPDATE … SET failed_logins = failed_logins + 1``) means
    concurrent guesses each get their own number, and the attempt that reaches the limit locks
    the account before it is checked, so a burst cannot slip past the lockout. A success then
    resets the counter. Returns ``None`` for an unknown user ID.
    """
    now = utcnow()
    lock_until = now + dt.timedelta(seconds=policy.lock_seconds)
    with bind_scope(writer(), scope) as session, session.begin():
        user = session.execute(
            select(User.id, User.password_hash, User.locked_until).where(User.login == login)
        ).first()
        if user is None:
            return None
        if user.locked_until is not None and user.locked_until > now:
            raise _locked(user.locked_until)
        counted = session.execute(
            update(User)
            .where(User.id == user.id)
            .where((User.locked_until.is_(None)) | (User.locked_until <= now))
            .values(
                failed_logins=User.failed_logins + 1,
                locked_until=case(
                    (
                        User.failed_logins + 1 >= policy.lock_after,
                        literal(lock_until, type_=User.locked_until.type),
                    ),
                    else_=User.locked_until,
                ),
            )
            .returning(User.failed_logins, User.locked_until)
            .execution_options(synchronize_session=False)
        ).first()
        if counted is None:  # a concurrent attempt locked the account meanwhile
            until = session.scalar(select(User.locked_until).where(User.id == user.id))
            raise _locked(until or lock_until)
        return _Attempt(
            user_id=user.id,
            password_hash=user.password_hash,
            failures_before=counted.failed_logins - 1,
            locked_until=counted.locked_until,
        )


def _reset_failures(writer: sessionmaker[Session], scope: Scope, user_id: int) -> User | None:
    """A success: clear the counter and any lock, and load the user."""
    with bind_scope(writer(), scope) as session, session.begin():
        session.execute(
            update(User)
            .where(User.id == user_id)
            .values(failed_logins=0, locked_until=None)
            .execution_options(synchronize_session=False)
        )
        return session.get(User, user_id)


async def authenticate_password(
    writer: sessionmaker[Session],
    scope: Scope,
    login: str,
    password: str,
    policy: LoginPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> User:
    """Check ``login``/``password`` in ``scope`` with slowing and lockout; the user on success.

    Raises :class:`LoginRejected`. A wrong password and an unknown user ID are one answer.
    The counter is updated in its own committed transaction, whatever the outcome; no
    transaction is open while the (deliberately slow) argon2 check or the delay runs, and
    neither blocks the event loop.
    """
    attempt = await anyio.to_thread.run_sync(_begin_attempt, writer, scope, login, policy)
    if attempt is None:
        await anyio.to_thread.run_sync(verify_password, None, password)  # same time as a user
        raise LoginRejected("invalid", WRONG_CREDENTIALS)
    delay = policy.delay_for(attempt.failures_before)
    if delay > 0:
        await sleep(delay)
    if not await anyio.to_thread.run_sync(verify_password, attempt.password_hash, password):
        if attempt.locked_until is not None and attempt.locked_until > utcnow():
            raise _locked(attempt.locked_until, attempt.failures_before + 1)
        raise LoginRejected("invalid", WRONG_CREDENTIALS)
    user = await anyio.to_thread.run_sync(_reset_failures, writer, scope, attempt.user_id)
    if user is None:  # removed outright while the password was being checked
        raise LoginRejected("invalid", WRONG_CREDENTIALS)
    if not user.is_active:
        raise LoginRejected(
            "inactive",
            f"the user {login!r} is {user.status}; ask an administrator to reactivate it",
        )
    return user
