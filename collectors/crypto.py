"""Encryption of BMC credentials at rest, with key rotation.

``ENERGYLAB_CREDENTIALS_KEY`` holds one or more Fernet keys, newest first: the newest encrypts,
all of them decrypt, so a new key can be put in front and ``rotate_credentials_key`` re-encrypts
every stored secret with it before the old key is removed.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class CredentialsKeyError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode("ascii")) for key in keys])
    except (ValueError, UnicodeEncodeError) as exc:
        raise CredentialsKeyError(
            "ENERGYLAB_CREDENTIALS_KEY holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)"
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.CREDENTIALS_KEYS))


def encrypt(secret: str) -> str:
    return fernet().encrypt(secret.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise CredentialsKeyError(
            "a stored BMC password cannot be decrypted with ENERGYLAB_CREDENTIALS_KEY "
            "(was a key removed before `rotate_credentials_key` ran?)"
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt a token with the newest key."""
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise CredentialsKeyError(
            "a stored BMC password cannot be decrypted with any key"
        ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")
