"""Key format, checksum and hashing, without a database."""

from planfeed.accounts.credentials import (
    generate_api_key,
    hash_password,
    hash_secret,
    inspect_api_key,
    verify_password,
    visible_prefix,
)
from planfeed.db.base import Environment


def test_key_prefix_names_environment():
    assert generate_api_key(Environment.LIVE).startswith("pfk_live_")
    assert generate_api_key(Environment.SANDBOX).startswith("pfk_test_")


def test_checksum_accepts_real_key_and_rejects_a_typo():
    key = generate_api_key(Environment.LIVE)
    assert inspect_api_key(key).checksum_ok
    typo = key[:12] + ("A" if key[12] != "A" else "B") + key[13:]
    shape = inspect_api_key(typo)
    assert shape.is_key
    assert not shape.checksum_ok
    assert not inspect_api_key(key[:-1]).checksum_ok


def test_foreign_strings_are_not_keys():
    assert not inspect_api_key("12004478285f4f4eb21cd25e62ba5eb7").is_key
    assert not inspect_api_key("pfk_prod_abc").is_key


def test_hash_depends_on_secret_and_prefix_is_short():
    key = generate_api_key(Environment.LIVE)
    assert hash_secret("a" * 40, key) != hash_secret("b" * 40, key)
    assert len(hash_secret("a" * 40, key)) == 64
    assert key.startswith(visible_prefix(key))
    assert len(visible_prefix(key)) < len(key) // 2


def test_passwords_use_argon2():
    hashed = hash_password("s3cret!")
    assert hashed.startswith("$argon2")
    assert verify_password(hashed, "s3cret!")
    assert not verify_password(hashed, "wrong")
    assert not verify_password(None, "anything")
