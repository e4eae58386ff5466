"""API key and token formats, hashing and passwords. Nothing here touches the database.

A key looks like ``pfk_live_<30 random base62 chars><6 char checksum>``: the type prefix says
the environment, and the CRC32 checksum (as GitHub's tokens carry) lets a mistyped key be told
apart from an unknown one without a database look-up. Only an HMAC-SHA256 of the key under
the server secret is stored, so a stolen database does not yield usable keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from planfeed.db.base import Environment

KEY_PREFIX = "pfk"
TOKEN_PREFIX = "pft"  # noqa: S105 - a type prefix, not a secret
_ENV_TAG = {Environment.LIVE: "live", Environment.SANDBOX: "test"}
_TAG_ENV = {tag: env for env, tag in _ENV_TAG.items()}
_ALPHABET = string.digits + string.ascii_letters
_RANDOM_LENGTH = 30
_CHECKSUM_LENGTH = 6
VISIBLE_PREFIX_LENGTH = len("pfk_live_") + 4

_password_hasher = PasswordHasher()


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(_ALPHABET[remainder])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECKSUM_LENGTH)


def generate_api_key(environment: Environment) -> str:
    """A new random key for ``environment``; shown once and never stored."""
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))
    body = f"{KEY_PREFIX}_{_ENV_TAG[environment]}_{random_part}"
    return body + _checksum(body)


@dataclass(frozen=True, slots=True)
class KeyShape:
    """What the text of a presented key says before any look-up."""

    is_key: bool
    environment: Environment | None
    checksum_ok: bool


def inspect_api_key(text: str) -> KeyShape:
    """Tell a planfeed key (and its environment and checksum) from any other string."""
    parts = text.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or parts[1] not in _TAG_ENV:
        return KeyShape(is_key=False, environment=None, checksum_ok=False)
    environment = _TAG_ENV[parts[1]]
    if len(parts[2]) != _RANDOM_LENGTH + _CHECKSUM_LENGTH:
        return KeyShape(is_key=True, environment=environment, checksum_ok=False)
    body, checksum = text[:-_CHECKSUM_LENGTH], text[-_CHECKSUM_LENGTH:]
    return KeyShape(
        is_key=True,
        environment=environment,
        checksum_ok=hmac.compare_digest(_checksum(body), checksum),
    )


def visible_prefix(key: str) -> str:
    """The part of a key that may be shown in listings."""
    return key[:VISIBLE_PREFIX_LENGTH]


def hash_secret(secret_key: str, value: str) -> str:
    """HMAC-SHA256 of a key or token under the server secret, hex-encoded."""
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def generate_token() -> str:
    return f"{TOKEN_PREFIX}_{secrets.token_urlsafe(32)}"


def hash_password(password: str) -> str:
    return _password_hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-ish time check; an account without a password never matches."""
    if not password_hash:
        _password_hasher.hash(password)  # spend the same time as a real check
        return False
    try:
        return _password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
