"""Starting a signed-in session: an access token plus a refresh token in a new family.

Password login, signup and single sign-on all end here.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from trackly import clock
from trackly.auth.schemas import LoginOut, TokenPair, UserOut
from trackly.auth.tokens import create_access_token
from trackly.config import Settings
from trackly.models import RefreshToken, User


def hash_refresh_token(token: str) -> bytes:
    """Refresh tokens are 256-bit random strings, so a plain SHA-256 is a safe lookup hash."""
    return hashlib.sha256(token.encode()).digest()


def new_refresh_token(
    user: User, *, session: Session, settings: Settings, family_id: uuid.UUID | None = None
) -> tuple[str, RefreshToken]:
    token = secrets.token_urlsafe(32)
    row = RefreshToken(
        token_hash=hash_refresh_token(token),
        family_id=family_id or uuid.uuid4(),
        user_id=user.id,
        created_at=clock.now(),
        expires_at=clock.now() + timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS),
    )
    session.add(row)
    session.flush()
    return token, row


def start_session(user: User, *, session: Session, settings: Settings) -> LoginOut:
    """Issue the login response for an authenticated, active user."""
    refresh, _row = new_refresh_token(user, session=session, settings=settings)
    return LoginOut(
        user=UserOut.model_validate(user),
        tokens=TokenPair(
            access_token=create_access_token(user.id, settings),
            refresh_token=refresh,
            expires_in=settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60,
        ),
    )
