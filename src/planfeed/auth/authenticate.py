"""Resolve an ``Authorization`` header to a :class:`Principal`, or say exactly why not."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from planfeed.accounts.credentials import hash_secret, inspect_api_key
from planfeed.accounts.models import AccessToken, ApiKey, User
from planfeed.accounts.service import address_allowed
from planfeed.auth.principal import Principal
from planfeed.db.base import Environment, Tenant, utcnow

LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


class AuthError(Exception):
    """A rejected credential: ``code`` says which case, ``message`` says what to do."""

    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def parse_authorization(header: str | None) -> tuple[str, str]:
    """Split ``API-KEY <key>`` or ``Bearer <key-or-token>``; scheme names are case-insensitive."""
    if header is None or not header.strip():
        raise AuthError(
            "missing_credentials",
            "no Authorization header: send 'Authorization: API-KEY <key>' or "
            "'Authorization: Bearer <key or token>'",
        )
    parts = header.strip().split(None, 1)
    if len(parts) != 2 or not parts[1].strip():
        raise AuthError(
            "malformed_authorization",
            "the Authorization header must be '<scheme> <credential>', e.g. 'API-KEY pfk_live_…'",
        )
    scheme, credential = parts[0].lower(), parts[1].strip()
    if scheme not in ("api-key", "bearer"):
        raise AuthError(
            "malformed_authorization",
            f"unsupported authorization scheme {parts[0]!r}: use API-KEY or Bearer",
        )
    return scheme, credential


def client_address(
    peer: str | None,
    forwarded_for: str | None,
    trusted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> str | None:
    """The socket's peer, unless it is a trusted proxy; then the nearest untrusted hop."""
    if peer is None or not trusted or not forwarded_for:
        return peer

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in trusted)

    if not is_trusted(peer):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else peer


def _principal(
    organisation: Tenant, user: User, environment: str, kind: str, credential_id: int
) -> Principal:
    return Principal(
        organisation_id=organisation.id,
        organisation_name=organisation.name,
        environment=Environment(environment),
        user_id=user.id,
        login=user.login,
        role=user.role,
        credential_kind=kind,
        credential_id=credential_id,
    )


def _check_user(user: User) -> None:
    if not user.is_active:
        raise AuthError(
            "user_inactive",
            f"the credential's user {user.login!r} is {user.status}; "
            "ask an administrator to reactivate it or use another key",
        )


def authenticate_api_key(
    session: Session, secret_key: str, key_text: str, address: str | None
) -> Principal:
    shape = inspect_api_key(key_text)
    if shape.is_key and not shape.checksum_ok:
        raise AuthError(
            "invalid_key_checksum",
            "the API key's checksum does not match: it was mistyped or cut short; "
            "copy the whole key again",
        )
    row = session.execute(
        select(ApiKey, Tenant)
        .join(Tenant, Tenant.id == ApiKey.organisation_id)
        .where(ApiKey.key_hash == hash_secret(secret_key, key_text))
    ).first()
    if row is None:
        raise AuthError("unknown_key", "the API key is not known: it may have been deleted")
    key, organisation = row
    if not key.enabled:
        raise AuthError("key_disabled", f"the API key {key.prefix}… ({key.label}) is disabled")
    if key.expires_on is not None and key.expires_on < utcnow().date():
        raise AuthError(
            "key_expired", f"the API key {key.prefix}… expired on {key.expires_on.isoformat()}"
        )
    _check_user(key.user)
    if not address_allowed(key.ip_allowlist, address):
        raise AuthError(
            "address_not_allowed",
            f"the API key {key.prefix}… may not be used from {address}: "
            "the address is not in its IP whitelist",
        )
    now = utcnow()
    # The caller records last use in a write transaction of its own (see http.deps).
    session.info["touch"] = (
        key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION
    )
    return _principal(organisation, key.user, key.environment, "api_key", key.id)


def authenticate_token(session: Session, secret_key: str, token_text: str) -> Principal:
    row = session.execute(
        select(AccessToken, Tenant)
        .join(Tenant, Tenant.id == AccessToken.organisation_id)
        .where(AccessToken.token_hash == hash_secret(secret_key, token_text))
    ).first()
    if row is None:
        raise AuthError(
            "invalid_token",
            "the bearer token is not known; request a new one from /accessplan/api/v2/token "
            "(or /accessplansandbox/api/v2/token for the sandbox)",
        )
    token, organisation = row
    if token.expires_at <= utcnow():
        raise AuthError("token_expired", "the bearer token has expired; request a new one")
    _check_user(token.user)
    return _principal(organisation, token.user, token.environment, "token", token.id)


def authenticate(
    session: Session, secret_key: str, header: str | None, address: str | None
) -> Principal:
    """Resolve the header; ``session`` must be unscoped (the credential decides the scope)."""
    scheme, credential = parse_authorization(header)
    if scheme == "api-key" or inspect_api_key(credential).is_key:
        return authenticate_api_key(session, secret_key, credential, address)
    return authenticate_token(session, secret_key, credential)
