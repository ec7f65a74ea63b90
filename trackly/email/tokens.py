"""Signed tokens carried by emails: unsubscribe links (name a user) and reply addresses (name a
notification, hence its user and issue). HMAC-SHA256 with EMAIL_TOKEN_KEY, a purpose mixed in
so one kind never passes as the other. Reply tokens are lowercase base32 and short, because they
live in the local part of an address (at most 64 characters, often lowercased on the way)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from trackly.errors import Forbidden

_UNSUBSCRIBE = b"unsubscribe"
_REPLY = b"reply"


def _mac(key: bytes, purpose: bytes, data: bytes, size: int) -> bytes:
    return hmac.new(key, purpose + b"\0" + data, hashlib.sha256).digest()[:size]


def unsubscribe_token(user_id: uuid.UUID, *, key: bytes) -> str:
    raw = user_id.bytes + _mac(key, _UNSUBSCRIBE, user_id.bytes, 16)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_unsubscribe_token(token: str, *, key: bytes) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != 32 or not hmac.compare_digest(raw[16:], _mac(key, _UNSUBSCRIBE, raw[:16], 16)):
        raise Forbidden("This unsubscribe link is not valid (it was changed or cut short).")
    return uuid.UUID(bytes=raw[:16])


def reply_token(notification_id: int, *, key: bytes) -> str:
    data = notification_id.to_bytes(8, "big")
    return base64.b32encode(data + _mac(key, _REPLY, data, 12)).decode().rstrip("=").lower()


def read_reply_token(token: str, *, key: bytes) -> int | None:
    """The notification id a reply token names, or None when it is forged or damaged."""
    text = token.strip().upper()
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (ValueError, TypeError):
        return None
    if len(raw) != 20 or not hmac.compare_digest(raw[8:], _mac(key, _REPLY, raw[:8], 12)):
        return None
    return int.from_bytes(raw[:8], "big")
