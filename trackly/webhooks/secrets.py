"""Signing secrets: made in the Standard Webhooks form, encrypted at rest, used to sign.

- A secret is `whsec_` + base64 of 32 random bytes; the HMAC key is the decoded bytes.
- At rest it is a Fernet token (AES-128-CBC + HMAC-SHA256, from `cryptography`) under a key
  derived with HKDF from WEBHOOK_SECRET_KEY, so any long random string works as that setting.
  To change that key, set `new,old` (comma-separated): the first encrypts, any decrypts.
- `signature_header` signs `<id>.<timestamp>.<body>` with every secret given (during a rotation
  the old and the new one), as space-separated `v1,<base64>` entries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from trackly.config import Settings
from trackly.errors import ServiceUnavailable

PREFIX = "whsec_"
SECRET_BYTES = 32
# Development and tests only: production refuses to run webhooks without a real key.
DEV_KEY = "trackly-development-webhook-key-0123456789abcdef"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def key_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def _fernet(master: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"trackly webhook secrets").derive(
        master.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


@lru_cache(maxsize=4)
def _multi(setting: str) -> MultiFernet:
    return MultiFernet([_fernet(key.strip()) for key in setting.split(",") if key.strip()])


def _cipher(settings: Settings) -> MultiFernet:
    master = settings.WEBHOOK_SECRET_KEY
    if not master.strip():
        if settings.TRACKLY_ENV == "production":
            raise ServiceUnavailable(
                "Webhooks are not configured on this server (WEBHOOK_SECRET_KEY is not set)."
            )
        master = DEV_KEY
    return _multi(master)


def encrypt(secret: str, *, settings: Settings) -> str:
    return _cipher(settings).encrypt(secret.encode()).decode()


def decrypt(token: str, *, settings: Settings) -> str:
    try:
        return _cipher(settings).decrypt(token.encode()).decode()
    except InvalidToken:
        # The key changed: never guess, and never say more than that.
        raise ServiceUnavailable(
            "A webhook secret cannot be decrypted with the current WEBHOOK_SECRET_KEY."
        ) from None


def sign(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(signing: Sequence[str], *, message_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(sign(s, message_id=message_id, timestamp=timestamp, body=body) for s in signing)
