"""Account operations used by the admin CLI, the APIs and the demo loader.

Functions take a session bound to the caller's scope (see ``planfeed.db.scope``) and never
commit: the request, job or CLI command that called them owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from planfeed.accounts.credentials import (
    generate_api_key,
    generate_token,
    hash_password,
    hash_secret,
    visible_prefix,
)
from planfeed.accounts.models import AccessToken, ApiKey, Role, User, UserStatus
from planfeed.audit.service import record
from planfeed.auth.principal import Principal
from planfeed.db.base import Environment, Tenant, utcnow

_ORG_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_LOGIN = re.compile(r"^[A-Za-z0-9._@+-]{1,100}$")


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


def issue_token(
    session: Session, secret_key: str, user: User, lifetime_seconds: int
) -> tuple[AccessToken, str]:
    """A new bearer token for ``user``; only its hash is stored."""
    plaintext = generate_token()
    token = AccessToken(
        user_id=user.id,
        token_hash=hash_secret(secret_key, plaintext),
        expires_at=utcnow() + dt.timedelta(seconds=lifetime_seconds),
    )
    session.add(token)
    session.flush()
    return token, plaintext
