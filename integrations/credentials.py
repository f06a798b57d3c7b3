"""Encryption at rest for connection secrets (Fernet, from the `cryptography` package).

Keys come from CREDENTIALS_KEYS (comma-separated Fernet keys): the first encrypts, every key
decrypts, so a new key can be put in front and the old ones kept until
`manage.py rotate_credentials_key` has re-encrypted every secret with the new one. With DEBUG on
and no key, a key derived from SECRET_KEY keeps development working (with a warning); in
production a missing key is an error the moment a secret is read or written, and
`check --deploy` reports it beforehand.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)


class CredentialsKeyMissing(ImproperlyConfigured):
    """No CREDENTIALS_KEYS and not in DEBUG: secrets can be neither read nor written."""


class CredentialsUnreadable(Exception):
    """A stored secret does not decrypt with any configured key (a key was dropped too early)."""


def derived_debug_key(secret_key: str) -> str:
    """A Fernet key derived from SECRET_KEY (HKDF-SHA256), for DEBUG set-ups without a key."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"tracker-credentials", info=b"fernet").derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw).decode()


def configured_keys() -> list[str]:
    """The CREDENTIALS_KEYS setting as a list of non-empty keys (maybe empty)."""
    value: Any = getattr(settings, "CREDENTIALS_KEYS", [])
    if isinstance(value, str):
        value = value.split(",")
    return [key.strip() for key in value if key and key.strip()]


def invalid_keys() -> list[int]:
    """Positions (1-based) of configured keys that are not valid Fernet keys."""
    bad = []
    for index, key in enumerate(configured_keys(), start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            bad.append(index)
    return bad


def _keys() -> tuple[str, ...]:
    keys = configured_keys()
    if keys:
        return tuple(keys)
    if settings.DEBUG:
        _warn_derived_key()
        return (derived_debug_key(settings.SECRET_KEY),)
    raise CredentialsKeyMissing(
        "CREDENTIALS_KEYS is not set: connection secrets cannot be encrypted. Generate a key with "
        '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.'
    )


@lru_cache(maxsize=1)
def _warn_derived_key() -> None:
    logger.warning(
        "CREDENTIALS_KEYS is not set; connection secrets are encrypted with a key derived from "
        "SECRET_KEY (DEBUG only). Set CREDENTIALS_KEYS before going to production."
    )


@lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "CREDENTIALS_KEYS holds a value that is not a Fernet key (32 url-safe base64-encoded bytes)."
        ) from None


def fernet() -> MultiFernet:
    """The MultiFernet for the configured keys. Raises CredentialsKeyMissing / ImproperlyConfigured."""
    return _multi_fernet(_keys())


def encrypt_text(plain: str) -> str:
    """`plain` encrypted with the first key, as text (a Fernet token)."""
    return fernet().encrypt(plain.encode()).decode()


def decrypt_text(token: str) -> str:
    """The plain text of a Fernet token. Raises CredentialsUnreadable (the message holds no secret)."""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadable(
            "A stored secret does not decrypt with any key in CREDENTIALS_KEYS; reconnect the "
            "connection or put the old key back in the list."
        ) from None


def rotate_text(token: str) -> str:
    """The same secret re-encrypted with the first key. Raises CredentialsUnreadable."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadable("A stored secret does not decrypt with any key in CREDENTIALS_KEYS.") from None


def encrypt_secrets(secrets: dict[str, str]) -> str:
    """A dict of secrets as one encrypted blob ("" for no secrets)."""
    cleaned = {name: value for name, value in secrets.items() if value}
    return encrypt_text(json.dumps(cleaned, sort_keys=True)) if cleaned else ""


def decrypt_secrets(blob: str) -> dict[str, str]:
    """The secrets dict of an encrypted blob ({} for ""). Raises CredentialsUnreadable."""
    if not blob:
        return {}
    value = json.loads(decrypt_text(blob))
    return {str(name): str(secret) for name, secret in value.items()} if isinstance(value, dict) else {}


REDACTED = "[redacted]"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (and each JSON-escaped or URL-encoded form of it) replaced by
    [redacted], so an error message that echoes a token never carries it further."""
    for secret in sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}:
            text = text.replace(form, REDACTED)
    return text


def secret_values(secrets: dict[str, str]) -> list[str]:
    """Every string that must never be shown: each secret, and the private key (and its id)
    inside a service-account JSON, which error text may quote on its own."""
    values = [value for value in secrets.values() if value]
    account_json = secrets.get("service_account_json")
    if account_json:
        try:
            info = json.loads(account_json)
        except ValueError:
            info = None
        if isinstance(info, dict):
            values += [str(info[name]) for name in ("private_key", "private_key_id") if info.get(name)]
            key = str(info.get("private_key", ""))
            # The base64 body lines of the PEM, which a library may quote one by one.
            values += [line for line in key.splitlines() if len(line) >= 32 and "-----" not in line]
    return values
