"""One-time login codes: handed to the browser in a URL fragment after SSO, exchanged once.

Only a SHA-256 hash of the code is stored; a code is 256 random bits, lives 60 seconds and is
consumed by one atomic UPDATE ... WHERE used_at IS NULL, so two concurrent exchanges cannot both
succeed. Expired codes are deleted by `trackly.housekeeping`.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from trackly import clock
from trackly.errors import Unauthorized
from trackly.models import LoginCode

CODE_TTL = timedelta(seconds=60)


def hash_code(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


def issue_code(user_id: uuid.UUID, *, session: Session) -> str:
    now = clock.now()
    code = secrets.token_urlsafe(32)
    session.add(
        LoginCode(code_hash=hash_code(code), user_id=user_id, created_at=now, expires_at=now + CODE_TTL)
    )
    session.flush()
    return code


def redeem_code(code: str, *, session: Session) -> uuid.UUID:
    """The user id behind a valid, unused code; the code is used up. Otherwise 401."""
    now = clock.now()
    user_id = session.execute(
        update(LoginCode)
        .where(
            LoginCode.code_hash == hash_code(code), LoginCode.used_at.is_(None), LoginCode.expires_at > now
        )
        .values(used_at=now)
        .returning(LoginCode.user_id)
    ).scalar_one_or_none()
    if user_id is None:
        raise Unauthorized("This sign-in code is invalid, expired or already used. Please sign in again.")
    return user_id
